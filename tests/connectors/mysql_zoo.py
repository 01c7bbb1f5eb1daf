"""The MySQL/MariaDB type zoo of the conformance kit: every native type at its extremes.

:func:`create_zoo` builds the table under a permissive ``sql_mode`` (as legacy databases are);
:func:`source_values` reads it back with PyMySQL as the referee, and ``read_*`` read a copy
back from each target with that target's own client. :func:`canon` renders any driver's value
as one text (integers and decimals by their digits, floats by ``repr``, bytes in hex,
timestamps in UTC with microseconds, durations in microseconds), so a column compares equal
exactly when every value arrived identical. Documented representations (SQLite's ISO 8601
durations, CSV text) are decoded by the per-target ``DECODE`` functions before comparing.
"""

from __future__ import annotations

import glob
import hashlib
import json
import re
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

try:
    from tests.connectors.dbkit import mysql_connect
except ImportError:
    from connectors.dbkit import mysql_connect  # type: ignore[no-redef]

ZOO_TYPES: list[tuple[str, str]] = [
    ("id", "int PRIMARY KEY"),
    ("i8", "tinyint"),
    ("u8", "tinyint unsigned"),
    ("i16", "smallint"),
    ("u16", "smallint unsigned"),
    ("i24", "mediumint"),
    ("u24", "mediumint unsigned"),
    ("i32", "int"),
    ("u32", "int unsigned"),
    ("i64", "bigint"),
    ("u64", "bigint unsigned"),
    ("b1", "bit(1)"),
    ("b64", "bit(64)"),
    ("flag", "bool"),
    ("dec_frac", "decimal(65,30)"),
    ("dec_int", "decimal(65,0)"),
    ("dec_small", "decimal(10,2)"),
    ("f4", "float"),
    ("f8", "double"),
    ("ch", "char(10)"),
    ("vc", "varchar(20)"),
    ("tx", "text"),
    ("ltx", "longtext"),
    ("bn", "binary(4)"),
    ("vb", "varbinary(8)"),
    ("bl", "blob"),
    ("en", "enum('red','green','blue')"),
    ("st", "set('a','b','c')"),
    ("yr", "year"),
    ("dt", "date"),
    ("dtm", "datetime(6)"),
    ("ts", "timestamp(6) NULL"),
    ("tm", "time(6)"),
    ("js", "json"),
    ("geo", "geometry"),
    ("pt", "point"),
    ("ls", "linestring"),
    ("pg", "polygon"),
]
#: MariaDB 10.10+ only; left out elsewhere.
MARIADB_TYPES: list[tuple[str, str]] = [("ip4", "inet4"), ("ip6", "inet6"), ("uid", "uuid")]

_ROW_1 = (
    "1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, "
    "-9223372036854775808, 18446744073709551615, b'1', "
    "b'1111111111111111111111111111111111111111111111111111111111111111', 1, "
    "'99999999999999999999999999999999999.999999999999999999999999999999', "
    "'99999999999999999999999999999999999999999999999999999999999999999', '12345678.90', "
    "3.4028235e38, 1.7976931348623157e308, 'ab  ', 'x  \U0001f389 ', "
    "'h\u00e9llo w\u00f6rld \u2603 \U0001f389', REPEAT('z', 70000), "
    "x'6100', x'61000000', x'0000', 'blue', 'a,c', 2155, '9999-12-31', "
    "'9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '838:59:59.000000', "
    '\'{"\u00e9": "\u2603\U0001f389", "big": 123456789012345678901234567890, '
    '"f": 1.5e300, "a": [1, null]}\', '
    "ST_GeomFromText('POINT(0.1 -1.23456789012345678)'), ST_GeomFromText('POINT(1 2)'), "
    "ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0.333333333333333)'), "
    "ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 1))')"
)
_ROW_2 = (
    "2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, "
    "9223372036854775808, b'0', b'0', 0, "
    "'-99999999999999999999999999999999999.999999999999999999999999999999', "
    "'-99999999999999999999999999999999999999999999999999999999999999999', '-0.01', "
    "-1.17549435e-38, -2.2250738585072014e-308, '', '', '', '', x'', x'', x'', 'red', '', 0, "
    "'1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01', '-838:59:59.000000', '[]', "
    "ST_GeomFromText('GEOMETRYCOLLECTION EMPTY'), ST_GeomFromText('POINT(-180 -90)'), "
    "ST_GeomFromText('LINESTRING(0 0, 0 0)'), ST_GeomFromText('POLYGON((0 0, 1 0, 0 1, 0 0))')"
)
_ROW_3 = (
    "3, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, b'1', "
    "b'1000000000000000000000000000000000000000000000000000000000000000', 1, "
    "'0.000000000000000000000000000001', '1', '0.00', 1.17549435e-38, 4.9e-324, 'a', "
    "'tab\\tnl\\n', 'q''uote \\\\', 'x', x'00000000', x'00', x'00ff00', 'green', 'a,b,c', 1901, "
    "'2024-02-29', '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56.654321', "
    "'-00:00:00.000001', '\"s\"', ST_GeomFromText('POINT(1e-300 1e300)'), "
    "ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('LINESTRING(1 1, 2 2)'), "
    "ST_GeomFromText('POLYGON((0 0, 1 0, 0 1, 0 0))')"
)
_ROW_4 = (
    "4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, b'0', b'101', 0, '1.5', '0', '1.00', 0.1, 0.1, 'abc', "
    "'abc', 'abc', 'abc', x'01020304', x'0100', x'ff', 'blue', 'b', 1999, '2000-01-01', "
    "'2000-01-01 00:00:00', '2000-01-01 00:00:00', '100:00:00.5', '{\"a\": 1}', "
    "ST_GeomFromText('POINT(7.5 51)', 4326), NULL, NULL, NULL"
)
_MARIADB_VALUES = [
    "'255.255.255.255', 'ffff::1', 'ffffffff-ffff-ffff-ffff-ffffffffffff'",
    "'0.0.0.0', '::', '00000000-0000-0000-0000-000000000000'",
    "'127.0.0.1', '::ffff:1.2.3.4', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
    "NULL, NULL, NULL",
]

SPATIAL = {"geo", "pt", "ls", "pg"}
BINARY = {"bn", "vb", "bl"}


def has_mariadb_types(props: dict[str, Any]) -> bool:
    version = str(mysql_rows_utc(props, "SELECT VERSION()")[0][0])
    match = re.match(r"(\d+)\.(\d+)", version)
    return (
        "mariadb" in version.lower()
        and bool(match)
        and (
            int(match.group(1)),
            int(match.group(2)),  # type: ignore[union-attr]
        )
        >= (10, 10)
    )


def zoo_types(props: dict[str, Any]) -> list[tuple[str, str]]:
    return ZOO_TYPES + (MARIADB_TYPES if has_mariadb_types(props) else [])


def create_zoo(props: dict[str, Any], table: str = "zoo") -> list[str]:
    """The zoo table, inserted under a permissive sql_mode; returns its column names."""
    types = zoo_types(props)
    extra = len(types) > len(ZOO_TYPES)
    rows = [_ROW_1, _ROW_2, _ROW_3, _ROW_4]
    values = [
        f"({row}{', ' + more if extra else ''})"
        for row, more in zip(rows, _MARIADB_VALUES, strict=True)
    ]
    values.append("(5" + ", NULL" * (len(types) - 1) + ")")
    with mysql_connect(props["database"]) as conn, conn.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = ''")
        cursor.execute(f"CREATE TABLE {table} ({', '.join(f'{n} {t}' for n, t in types)})")
        cursor.execute(f"INSERT INTO {table} VALUES {', '.join(values)}")
    return [name for name, _ in types]


def mysql_rows_utc(props: dict[str, Any], query: str) -> list[tuple[Any, ...]]:
    with mysql_connect(props["database"]) as conn, conn.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute(query)
        return list(cursor.fetchall())


def _mysql_expression(name: str, type_text: str) -> str:
    if type_text.startswith("bit"):
        return f"CAST({name} AS UNSIGNED)"
    if type_text == "float":  # the text protocol rounds FLOAT to 6 digits
        return f"CAST({name} AS DOUBLE)"
    if name in SPATIAL:
        return (
            f"IF(ST_SRID({name}) = 0, ST_AsText({name}), "
            f"CONCAT('SRID=', ST_SRID({name}), ';', ST_AsText({name})))"
        )
    return name


def columns_of(values: list[tuple[Any, ...]], names: list[str]) -> dict[str, list[Any]]:
    return {name: [row[i] for row in values] for i, name in enumerate(names)}


def source_values(props: dict[str, Any], names: list[str], table: str = "zoo") -> dict[str, Any]:
    """The referee: the zoo as MySQL itself hands it over (floats and bits unrounded)."""
    types = dict(zoo_types(props))
    items = ", ".join(_mysql_expression(n, types[n]) for n in names)
    return columns_of(mysql_rows_utc(props, f"SELECT {items} FROM {table} ORDER BY id"), names)


# -- one reader per target ---------------------------------------------------------------------


def read_mysql(props: dict[str, Any], table: str, names: list[str]) -> dict[str, Any]:
    types = dict(zoo_types(props))
    items = ", ".join(_mysql_expression(n, types[n]) for n in names)
    return columns_of(mysql_rows_utc(props, f"SELECT {items} FROM {table} ORDER BY id"), names)


def read_postgres(props: dict[str, Any], table: str, names: list[str]) -> dict[str, Any]:
    # real is read as float8 (exact), not as its shortest text parsed into a Python double
    cast = {"js": "::text", "f4": "::float8"}
    items = ", ".join(f"{n}{cast.get(n, '')}" for n in names)
    with psycopg.connect(
        host=props["host"], port=props["port"], dbname=props["database"], user=props["username"]
    ) as conn:
        rows = conn.execute(f"SELECT {items} FROM {table} ORDER BY id".encode()).fetchall()
    return columns_of(rows, names)


def read_sqlite(path: str, table: str, names: list[str]) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY id").fetchall()
    finally:
        conn.close()
    return columns_of(rows, names)


def read_duckdb(path: str, table: str, names: list[str]) -> dict[str, Any]:
    conn = duckdb.connect(path)
    try:
        rows = conn.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY id").fetchall()
    finally:
        conn.close()
    return columns_of(rows, names)


def read_parquet(root: str, table: str, names: list[str]) -> dict[str, Any]:
    files = sorted(glob.glob(f"{root}/{table}/**/*.parquet", recursive=True))
    data = pa.concat_tables([pq.read_table(f) for f in files]).sort_by("id")
    return {name: data.column(name).to_pylist() for name in names}


def read_csv(root: str, table: str, names: list[str]) -> dict[str, Any]:
    """Every field as text; an unquoted empty field is NULL, a quoted one an empty string."""
    files = sorted(glob.glob(f"{root}/{table}/**/*.csv", recursive=True))
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    data = pa.concat_tables([pacsv.read_csv(f, convert_options=convert) for f in files])
    rows = sorted(data.to_pylist(), key=lambda row: int(row["id"]))
    return {name: [row[name] for row in rows] for name in names}


# -- canonical text ----------------------------------------------------------------------------


def canon(value: Any) -> str:
    if value is None:
        return "<null>"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(" ", "microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value // timedelta(microseconds=1)}us"
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def json_canon(value: Any) -> str:
    """JSON by meaning: key order, spacing and number spelling (1.5e300) do not count."""
    if value is None:
        return "<null>"

    def norm(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: norm(v) for k, v in sorted(item.items())}
        if isinstance(item, list):
            return [norm(v) for v in item]
        if isinstance(item, Decimal):
            return f"<n:{item.normalize()}>"
        return item

    return json.dumps(norm(json.loads(value, parse_float=Decimal, parse_int=Decimal)))


def digests(columns: dict[str, list[Any]], decode: dict[str, Callable[[Any], Any]]) -> dict:
    """Per column, md5 of its canonical values in id order (``decode`` first, where given)."""
    out = {}
    for name, values in columns.items():
        step = decode.get(name, lambda v: v)
        texts = [
            json_canon(v) if name == "js" else canon(None if v is None else step(v)) for v in values
        ]
        out[name] = hashlib.md5("|".join(texts).encode()).hexdigest()
    return out


# -- documented representations, decoded back ---------------------------------------------------


def iso_duration(text: str) -> timedelta:
    """SQLite's ``DURATION TEXT``: ``P{months}M{days}DT{seconds}S`` (months are 0 here)."""
    match = re.fullmatch(r"P0M(-?\d+)DT(-?[\d.]+)S", text)
    assert match, text
    micros = round(Decimal(match.group(2)) * 1_000_000)
    return timedelta(days=int(match.group(1)), microseconds=int(micros))


SQLITE_DECODE: dict[str, Callable[[Any], Any]] = {
    "ts": datetime.fromisoformat,  # TIMESTAMPTZ TEXT, '+00:00'
    "tm": iso_duration,
}


def _csv_bool(text: str) -> int:
    return {"true": 1, "false": 0}[text]


CSV_DECODE: dict[str, Callable[[Any], Any]] = {
    **{n: int for n in ("id", "i8", "u8", "i16", "u16", "i24", "u24", "i32", "u32")},
    **{n: int for n in ("i64", "u64", "b1", "b64", "yr")},
    "flag": _csv_bool,
    "dec_small": Decimal,
    "f4": lambda t: pa.array([t]).cast(pa.float32())[0].as_py(),  # shortest float32 text
    "f8": float,
    "dt": date.fromisoformat,
    "dtm": datetime.fromisoformat,
    "ts": datetime.fromisoformat,  # '...Z'
    "tm": lambda t: timedelta(microseconds=int(t)),  # duration[us] as its integer
}
