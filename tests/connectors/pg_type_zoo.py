"""The PostgreSQL type zoo as data: one column per type a user can have, with edge values.

Each :class:`ZooColumn` is a column name, its DDL type and one SQL literal (or ``None`` for
NULL) per row; row :data:`NULL_ROW` is NULL in every column. The expected outcome of every
column in every target lives in ``headwater.connectors.postgres.typemap`` (the same table
``docs/type-mapping.md`` shows); ``test_type_zoo_postgres.py`` checks the two against each
other and against the data that really arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

try:
    from tests.connectors.dbkit import pg_exec, pg_rows
except ImportError:  # tests/ itself is on sys.path
    from connectors.dbkit import pg_exec, pg_rows  # type: ignore[no-redef]

ROWS = 6
NULL_ROW = 6


@dataclass(frozen=True)
class ZooColumn:
    name: str
    ddl: str
    values: tuple[str | None, ...]  # rows 1..5; row 6 is all NULL


def _c(name: str, ddl: str, *values: str | None) -> ZooColumn:
    assert len(values) == ROWS - 1, name
    return ZooColumn(name, ddl, values)


_BIG = "9" * 500 + "." + "1" * 500  # 1000 digits
_UNI = "E'h\\u00e9llo \\u2603 \\U0001F389 \\u4e2d\\u6587'"

# fmt: off
ZOO: tuple[ZooColumn, ...] = (
    _c('c_int2', 'smallint', '-32768', '32767', '0', '-1', '1'),
    _c('c_int4', 'integer', '-2147483648', '2147483647', '0', '-1', '1'),
    _c('c_int8', 'bigint', '-9223372036854775808', '9223372036854775807', '0', '-1', '1'),
    _c('c_oid', 'oid', '0', '4294967295', '1', '12345', None),
    _c('c_real', 'real', "'NaN'", "'Infinity'", "'-Infinity'", "'-0'", '3.4028235e38'),
    _c('c_float', 'double precision', "'NaN'", "'Infinity'", "'-Infinity'", "'-0'", '0.1'),
    _c('c_float_fin', 'double precision', '1.7976931348623157e308', '-0.0',
       '2.2250738585072014e-308', '0.1', '5e-324'),
    _c('c_float_neg0', 'double precision', "'-0'", "'0'", '1', None, None),
    _c('c_num_p', 'numeric(12,2)', "'-9999999999.99'", "'0.10'", "'0'", "'1.5'", None),
    _c('c_num_wide', 'numeric(60,20)',
       "'-1234567890123456789012345678901234567890.12345678901234567890'", "'0'", "'1e-20'", "'1'",
       None),
    _c('c_num_p_nan', 'numeric(10,2)', "'NaN'", "'1.00'", None, None, None),
    _c('c_num_scale', 'numeric(50,40)', "'1.0000000000000000000000000000000000000001'",
       "'-0.1234567890123456789012345678901234567891'", "'0'", "'1234567890'", None),
    _c('c_num_neg', 'numeric(5,-2)', "'1234500'", "'-9999900'", "'0'", "'100'", None),
    _c('c_num_big', 'numeric', f"'{_BIG}'", f"'-{_BIG}'", "'0.000000000000000000001'",
       "'123.4500'", "'0'"),
    _c('c_num_special', 'numeric', "'NaN'", "'Infinity'", "'-Infinity'", "'1.5'", "'0'"),
    _c('c_money', 'money', "'-92233720368547758.08'", "'92233720368547758.07'", "'0'", "'1234.56'",
       "'-0.01'"),
    _c('c_bool', 'boolean', 'true', 'false', 'true', 'false', None),
    _c('c_text', 'text', _UNI, "''", "E'line1\\nline2\\r\\n\\ttab'",
       'E\'q"uo\'\'te \\\\ back,comma;semi\'', "'NULL'"),
    _c('c_varchar', 'varchar(10)', "'abc'", "''", "' lead'", "'\\N'", "'0123456789'"),
    _c('c_char', 'char(5)', "'ab'", "'abcde'", "''", "' x'", "'é'"),
    _c('c_name', 'name', "'pg_class'", "''", "'x y'", "'é'", None),
    _c('c_bytea', 'bytea', "'\\x00'", "'\\x'", "'\\x00ff0a5c22'", "'\\x000000'", "'\\xdeadbeef'"),
    _c('c_date', 'date', "'infinity'", "'-infinity'", "'0001-01-01'", "'9999-12-31'",
       "'0044-03-15 BC'"),
    _c('c_date_fin', 'date', "'0001-01-01'", "'9999-12-31'", "'2024-02-29'", "'1970-01-01'",
       "'1999-12-31'"),
    _c('c_ts', 'timestamp', "'infinity'", "'-infinity'", "'0001-01-01 00:00:00'",
       "'9999-12-31 23:59:59.999999'", "'0100-01-01 12:00:00 BC'"),
    _c('c_ts_fin', 'timestamp', "'0001-01-01 00:00:00'", "'9999-12-31 23:59:59.999999'",
       "'2024-02-29 12:34:56.123456'", "'1970-01-01 00:00:00'", "'2000-01-01 00:00:00.000001'"),
    _c('c_tstz', 'timestamptz', "'infinity'", "'-infinity'", "'0001-01-01 00:00:00+00'",
       "'9999-12-31 23:59:59.999999+00'", "'2024-02-29 12:34:56.123456+05:30'"),
    _c('c_tstz_fin', 'timestamptz', "'0001-01-01 00:00:00+00'", "'9999-12-31 23:59:59.999999+00'",
       "'2024-02-29 12:34:56.123456+05:30'", "'1970-01-01 00:00:00-08'", "'2000-01-01 00:00Z'"),
    _c('c_time', 'time', "'00:00:00'", "'23:59:59.999999'", "'12:34:56.789012'", "'24:00:00'",
       "'00:00:00.000001'"),
    _c('c_time_fin', 'time', "'00:00:00'", "'23:59:59.999999'", "'12:34:56.789012'", None, None),
    _c('c_timetz', 'timetz', "'00:00:00+00'", "'23:59:59.999999-15:59'", "'12:00:00+05:30'",
       "'24:00:00+00'", "'01:02:03-08'"),
    _c('c_interval', 'interval', "'178000000 years'", "'-178000000 years'",
       "'1 mon 2 days 03:04:05.000006'", "'-1 mon +1 day -00:00:01'", "'2562047788:00:54.775807'"),
    _c('c_interval_fin', 'interval', "'1 mon 2 days 03:04:05.000006'", "'-1 mon +1 day -00:00:01'",
       "'0'", "'178000000 years'", "'-1 day 23:59:59.999999'"),
    _c('c_uuid', 'uuid', "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
       "'00000000-0000-0000-0000-000000000000'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'",
       "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12'", None),
    _c('c_json', 'json', '\'{"b": 1, "a": 2, "b": 3}\'',
       "'12345678901234567890123456789.123456789'", '\'"\\u00e9 \\ud83c\\udf89"\'',
       '\'[1, 2.50, {"x": null}]\'', "'null'"),
    _c('c_jsonb', 'jsonb', '\'{"b": 1, "a": [1, 2.50, {"\\u00fc": null}]}\'',
       "'12345678901234567890123456789.123456789'", '\'"\\u00e9 \\ud83c\\udf89"\'', "'[]'",
       "'null'"),
    _c('c_xml', 'xml', '\'<a b="1">x &amp; y</a>\'', "'just text'", "'<e/><f>2</f>'",
       '\'<?xml version="1.0"?><r>é</r>\'', None),
    _c('c_bit', 'bit(8)', "B'10101010'", "B'00000000'", "B'11111111'", "B'00000001'", None),
    _c('c_varbit', 'bit varying', "B''", "B'1'",
       "B'10101010101010101010101010101010101010101010101010101010101010101010101010101010'",
       "B'0001'", None),
    _c('c_inet', 'inet', "'192.168.0.1/24'", "'::1'", "'10.0.0.1'", "'2001:db8::1/64'", None),
    _c('c_cidr', 'cidr', "'10.0.0.0/8'", "'2001:db8::/32'", "'192.168.1.0/24'", "'::/0'", None),
    _c('c_macaddr', 'macaddr', "'08:00:2b:01:02:03'", "'ff:ff:ff:ff:ff:ff'", "'00:00:00:00:00:00'",
       "'0800.2b01.0204'", None),
    _c('c_macaddr8', 'macaddr8', "'08:00:2b:01:02:03:04:05'", "'08:00:2b:01:02:03'",
       "'ff:ff:ff:ff:ff:ff:ff:ff'", "'00:00:00:00:00:00:00:00'", None),
    _c('c_point', 'point', "'(1.5,-2)'", "'(0,0)'", "'(1e300,-1e-300)'", "'(0.1,0.2)'", None),
    _c('c_line', 'line', "'{1,2,3}'", "'{0,1,0}'", "'{1.5,-1,0.25}'", "'[(0,0),(1,1)]'", None),
    _c('c_lseg', 'lseg', "'[(0,0),(1,1)]'", "'[(1.5,2),(-3,4)]'", "'[(0,0),(0,0)]'",
       "'((1,2),(3,4))'", None),
    _c('c_box', 'box', "'(1,1),(0,0)'", "'(0,0),(1,1)'", "'(-1.5,2),(3,-4)'", "'(0,0),(0,0)'",
       None),
    _c('c_path', 'path', "'[(0,0),(1,1),(2,0)]'", "'((0,0),(1,1),(1,0))'", "'[(1.5,2)]'",
       "'((0,0))'", None),
    _c('c_polygon', 'polygon', "'((0,0),(1,1),(1,0))'", "'((0,0))'", "'((1.5,2),(3,4),(5,6.5))'",
       "'((0,0),(0,1),(1,1),(1,0))'", None),
    _c('c_circle', 'circle', "'<(0,0),1.5>'", "'<(1,2),0>'", "'<(-1e10,1e-10),3>'", "'((0,0),1)'",
       None),
    _c('c_tsvector', 'tsvector', "'a fat cat:1A sat:2,3B on the mat'", "''",
       "'''quoted word'' x:4'", "'é:1'", None),
    _c('c_tsquery', 'tsquery', "'fat & (rat | cat)'", "'!a <-> b'", "'''x y'':*'", "'é'", None),
    _c('c_int4range', 'int4range', "'[1,10)'", "'empty'", "'(,5]'", "'[3,)'", "'(,)'"),
    _c('c_int8range', 'int8range', "'[-9223372036854775808,9223372036854775807)'", "'empty'",
       "'[0,1)'", None, "'(,)'"),
    _c('c_numrange', 'numrange', "'[1.50,2.75]'", "'empty'", "'(,0.001)'", "'[NaN,NaN]'", None),
    _c('c_tstzrange', 'tstzrange', "'[2024-01-01 00:00+02,2024-01-02 00:00+02)'", "'empty'",
       "'[-infinity,infinity)'", "'(,2000-01-01 00:00:00.000001+00]'", None),
    _c('c_daterange', 'daterange', "'[2024-01-01,2024-12-31]'", "'empty'",
       "'[0001-01-01,infinity)'", "'(,)'", None),
    _c('c_int4multirange', 'int4multirange', "'{[1,3), [5,7)}'", "'{}'", "'{(,)}'", "'{[10,20]}'",
       None),
    _c('c_datemultirange', 'datemultirange', "'{[2024-01-01,2024-02-01)}'", "'{}'",
       "'{[2024-01-01,2024-01-05), [2024-02-01,infinity)}'", "'{(,2000-01-01)}'", None),
    _c('c_domain', 'hw_posnum', "'1.50'", "'99999999.99'", "'0.01'", "'42'", None),
    _c('c_composite', 'hw_pair', "ROW(1, 'x y')", 'ROW(NULL, NULL)', "ROW(2, '')",
       'ROW(-3, \'q"u,o(t)e\')', None),
    _c('c_enum', 'hw_mood', "'happy'", "'sad'", "'ok ay'", "'happy'", None),
    _c('c_int_arr', 'integer[]', "'{{1,2},{3,4}}'", "'[0:1]={1,2}'", "'{1,NULL,3}'", "'{}'",
       "'{{{1}},{{2}}}'"),
    _c('c_int_arr_1d', 'integer[]', "'{1,NULL,3}'", "'{}'", "'{-2147483648,2147483647}'",
       "'{NULL}'", "'{7}'"),
    _c('c_text_arr', 'text[]', '\'{"a b","c,d",NULL,"NULL","q\\"t",""}\'', "'{{a,b},{c,d}}'",
       "'[2:3]={x,y}'", "'{}'", '\'{"é 🎉"}\''),
    _c('c_num_arr', 'numeric[]', "'{1.50,NaN,-0.000001}'", "'{{1,2},{3,4.0}}'", "'{}'",
       "'{NULL,Infinity}'", "'{123456789012345678901234567890.5}'"),
    _c('c_tstz_arr', 'timestamptz[]', '\'{"2024-01-01 00:00:00+02",infinity,NULL}\'', "'{}'",
       '\'{{"2024-01-01 00:00:00+00"},{"1999-12-31 23:59:59.999999+00"}}\'',
       '\'[0:0]={"2000-01-01 00:00:00+00"}\'', None),
    _c('c_uuid_arr', 'uuid[]', "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}'", "'{}'",
       "'{{00000000-0000-0000-0000-000000000000}}'", None, None),
    _c('c_jsonb_arr', 'jsonb[]', 'ARRAY[\'{"a": 1}\', \'[1, 2]\', \'null\', NULL]::jsonb[]',
       "'{}'", 'ARRAY[ARRAY[\'1\'], ARRAY[\'"x"\']]::jsonb[]', None, None),
    _c('c_bool_arr', 'boolean[]', "'{t,f,NULL}'", "'{}'", "'{{t},{f}}'", "'[5:5]={t}'", None),
    _c('c_float_arr', 'double precision[]', "'{NaN,Infinity,-Infinity,-0,0.1}'", "'{}'",
       "'{{1.5},{2.5}}'", None, None),
    _c('c_enum_arr', 'hw_mood[]', "'{happy,sad}'", "'{}'", "'{{happy},{sad}}'", "'{NULL}'", None),
    _c('c_text_arr_1d', 'text[]', '\'{"a b","c,d",NULL,"NULL","q\\"t",""}\'', "'{}'",
       '\'{"é 🎉"}\'', None, None),
    _c('c_num_arr_1d', 'numeric[]', "'{1.50,NaN,-0.000001}'", "'{}'", "'{NULL,Infinity}'",
       "'{123456789012345678901234567890.5}'", None),
    _c('c_tstz_arr_1d', 'timestamptz[]', '\'{"2024-01-01 00:00:00.5+02",NULL}\'', "'{}'",
       '\'{"0001-01-01 00:00:00+00"}\'', None, None),
    _c('c_uuid_arr_1d', 'uuid[]', "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}'", "'{}'", None,
       None, None),
    _c('c_jsonb_arr_1d', 'jsonb[]', 'ARRAY[\'{"a": 1.50}\', \'[1, 2]\', \'null\', NULL]::jsonb[]',
       "'{}'", None, None, None),
    _c('c_bool_arr_1d', 'boolean[]', "'{t,f,NULL}'", "'{}'", None, None, None),
    _c('c_float_arr_1d', 'double precision[]', "'{1.5,-0.25,1e300}'", "'{}'", "'{NULL}'", None,
       None),
    _c('c_float_arr_nan_1d', 'double precision[]', "'{NaN,Infinity,-0}'", "'{1}'", None, None,
       None),
    _c('c_pg_lsn', 'pg_lsn', "'0/0'", "'FFFFFFFF/FFFFFFFF'", "'16/B374D848'", "'0/1'", None),
    _c('c_citext', 'citext', "'MiXeD Case'", "''", "'é'", "'x  '", None),
)
# fmt: on

SETUP = (
    "CREATE EXTENSION IF NOT EXISTS citext",
    "DO $$ BEGIN CREATE TYPE hw_mood AS ENUM ('happy', 'sad', 'ok ay'); "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    "DO $$ BEGIN CREATE DOMAIN hw_posnum AS numeric(10,2) CHECK (VALUE > 0); "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    "DO $$ BEGIN CREATE TYPE hw_pair AS (a integer, b text); "
    "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
)


def create_zoo(props: dict[str, Any], table: str = "pgzoo") -> None:
    """Create and fill the zoo table (``id`` 1..6) in the database of ``props``."""
    columns = ", ".join(f"{c.name} {c.ddl}" for c in ZOO)
    rows = []
    for index in range(ROWS):
        literals = [
            "NULL" if index + 1 == NULL_ROW or c.values[index] is None else str(c.values[index])
            for c in ZOO
        ]
        rows.append(f"({index + 1}, {', '.join(literals)})")
    pg_exec(
        props,
        *SETUP,
        f"DROP TABLE IF EXISTS {table}",
        f"CREATE TABLE {table} (id integer PRIMARY KEY, {columns})",
        f"INSERT INTO {table} VALUES {', '.join(rows)}",
    )


def column(name: str) -> ZooColumn:
    return next(c for c in ZOO if c.name == name)


def pg_text(props: dict[str, Any], table: str, name: str) -> list[str | None]:
    """The column's PostgreSQL text form per row, in id order."""
    return [r[0] for r in pg_rows(props, f'SELECT "{name}"::text FROM {table} ORDER BY id')]


# -- expected outcome per column and target (docs/type-mapping.md shows this table) -----------

TARGETS = ("postgres", "postgres_arrow", "duckdb", "sqlite", "mysql", "files", "csv")
TARGET_TITLES = {
    "postgres": "PostgreSQL (native COPY)",
    "postgres_arrow": "PostgreSQL (Arrow)",
    "duckdb": "DuckDB",
    "sqlite": "SQLite",
    "mysql": "MariaDB",
    "files": "Parquet",
    "csv": "CSV",
}
_NON_PG = ("duckdb", "sqlite", "mysql", "files")


@dataclass(frozen=True)
class Outcome:
    """``exact``: the same value (in PostgreSQL also the same type); ``text``: the PostgreSQL
    text form in a text column; ``elements``: a list of the elements' text forms; ``fail``:
    the load fails naming the column, nothing written."""

    mode: str
    note: str = ""

    def cell(self) -> str:
        if self.mode == "exact":
            return "same" + (f" ({self.note})" if self.note else "")
        if self.mode == "text":
            return "text form" + (f" ({self.note})" if self.note else "")
        if self.mode == "elements":
            return "list of element text forms" + (f" ({self.note})" if self.note else "")
        return f"refused: {self.note}"


EXACT, TEXT = Outcome("exact"), Outcome("text")
INFINITY = Outcome("fail", "`infinity`")
SHAPED = Outcome("fail", "multi-dim or lower bound not 1")
_USER_TYPE = Outcome("text", "`text`")

#: Columns whose outcome is the same in every non-PostgreSQL target: the PostgreSQL source
#: refuses these values on its Arrow path, whatever the target.
_ARROW_FAILS = {
    "c_date": INFINITY,
    "c_ts": INFINITY,
    "c_tstz": INFINITY,
    "c_time": Outcome("fail", "`24:00:00`"),
    "c_interval": Outcome("fail", "time part beyond ±292 years"),
}
SOURCE_REFUSALS = (SHAPED, *_ARROW_FAILS.values())
_TEXT_TYPES = {
    "c_timetz", "c_xml", "c_bit", "c_varbit", "c_inet", "c_cidr", "c_macaddr", "c_macaddr8",
    "c_point", "c_line", "c_lseg", "c_box", "c_path", "c_polygon", "c_circle", "c_tsvector",
    "c_tsquery", "c_int4range", "c_int8range", "c_numrange", "c_tstzrange", "c_daterange",
    "c_int4multirange", "c_datemultirange", "c_domain", "c_composite", "c_enum", "c_pg_lsn",
    "c_json", "c_jsonb",
}  # fmt: skip


def _csv_outcome(name: str) -> Outcome:
    """CSV files: what Parquet does, but as text (nested values as JSON, intervals ISO 8601)."""
    if name == "c_bytea":
        return Outcome("fail", "bytes that are not UTF-8")
    if name == "c_interval_fin":
        return Outcome("exact", "ISO 8601 text")
    if name.endswith("_arr_1d"):
        outcome = _array_outcome(
            name, "duckdb" if name == "c_float_arr_nan_1d" else "sqlite"
        )  # a JSON array, as in SQLite
        return Outcome(outcome.mode, outcome.note)
    return _outcome(name, "files")


def _outcome(name: str, target: str) -> Outcome:
    if target == "csv":
        return _csv_outcome(name)
    shaped_array = name.endswith("_arr")
    if target == "postgres":
        if name in ("c_domain", "c_composite", "c_enum", "c_citext"):
            return _USER_TYPE
        return Outcome("text", "`text[]`") if name == "c_enum_arr" else EXACT
    if name == "c_num_p_nan" and target != "postgres":
        return Outcome("fail", "NaN in `numeric(p,s)`")
    if target == "postgres_arrow":
        if name in ("c_date", "c_ts", "c_tstz"):
            return INFINITY
        if name in ("c_domain", "c_composite", "c_enum", "c_citext"):
            return _USER_TYPE
        return Outcome("text", "`text[]`") if name == "c_enum_arr" else EXACT
    if shaped_array:
        return SHAPED
    if name in _ARROW_FAILS:
        if name == "c_interval" and target == "files":
            return Outcome("fail", "no Parquet interval")
        return _ARROW_FAILS[name]
    if name == "c_float_arr_nan_1d" and target in ("sqlite", "mysql"):
        return Outcome("fail", "NaN, ±Infinity in JSON")
    if name.endswith("_arr_1d"):
        return _array_outcome(name, target)
    if name == "c_float_neg0" and target in ("sqlite", "mysql"):
        return Outcome("fail", "-0.0")
    if name == "c_interval_fin":
        if target == "files":
            return Outcome("fail", "no Parquet interval")
        return EXACT if target == "duckdb" else Outcome("exact", "ISO 8601 text")
    if name in ("c_real", "c_float"):
        if target == "sqlite":
            return Outcome("fail", "NaN, -0.0")
        if target == "mysql":
            return Outcome("fail", "NaN, ±Infinity")
        return EXACT
    if name == "c_money":
        return Outcome("exact", "as numeric")
    if name in _TEXT_TYPES:
        return TEXT
    return EXACT


def _array_outcome(name: str, target: str) -> Outcome:
    """1-D arrays with lower bound 1: lists in DuckDB and Parquet, JSON arrays elsewhere;
    elements of types Arrow has no type for are carried as their text forms."""
    note = {"duckdb": "", "files": "list", "sqlite": "JSON array", "mysql": "JSON array"}
    if name in ("c_num_arr_1d", "c_uuid_arr_1d", "c_jsonb_arr_1d"):
        return Outcome("elements", note[target])
    return Outcome("exact", note[target])


OUTCOMES: dict[str, dict[str, Outcome]] = {
    c.name: {t: _outcome(c.name, t) for t in TARGETS} for c in ZOO
}


def markdown_table() -> str:
    """The per-type table of docs/type-mapping.md, generated from :data:`OUTCOMES`."""
    head = "| zoo column (values) | type | " + " | ".join(TARGET_TITLES[t] for t in TARGETS)
    lines = [head + " |", "|" + "---|" * (len(TARGETS) + 2)]
    for c in ZOO:
        cells = " | ".join(OUTCOMES[c.name][t].cell() for t in TARGETS)
        lines.append(f"| `{c.name}` | `{c.ddl}` | {cells} |")
    return "\n".join(lines)
