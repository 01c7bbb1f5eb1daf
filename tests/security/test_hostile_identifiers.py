"""Hostile table, column and schema names, and hostile cursor values, through the real engine.

Issue #11: SQL is built only with bound parameters or quoted identifiers. Real tables whose
names hold quotes, semicolons, backticks, backslashes, ``%`` and ``?`` placeholders, newlines,
unicode, emoji, reserved words and the 63-byte PostgreSQL maximum are copied PostgreSQL ->
PostgreSQL (native COPY and Arrow), SQLite, DuckDB and MariaDB with every load method, and from
MariaDB, SQLite, DuckDB and PostgreSQL sources. Each run must land exactly the source rows under
the same names -- or, where a target cannot hold a name (MariaDB and emoji), fail with an error
naming it -- and a ``victim`` table next to the data must survive everything (an injected
``DROP TABLE victim`` never runs). Custom SQL sources are the user's own SQL and not covered.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from headwater.connectors.duckdb.conn import SANDBOX_CONFIG
from headwater.connectors.errors import JobFailed
from headwater.connectors.sqltext import quote_backtick, quote_ident
from headwater.engine import TableJob, TableResult, run_table_job
from tests.connectors.dbkit import (
    mysql_connect,
    mysql_database,
    mysql_exec,
    pg_connect,
    pg_database,
)
from tests.engine.faulty import faulty_registry

pytestmark = [pytest.mark.postgres, pytest.mark.mysql]

INJECT = "'); DROP TABLE victim; --"
LONG = ('long"' + INJECT + "_é").ljust(63 - 1, "x")  # 63 bytes: 'é' takes two
assert len(LONG.encode()) == 63

TABLES = [
    'a"b',
    "x" + INJECT,
    "semi;colon",
    "back`tick",
    "sp ace",
    "ünïcödé_表",
    "emoji_🚀",
    "UPPER_lower",
    "select",
    "back\\slash",
    "pct%s and %%",
    "q?mark $1 :name",
    "new\nline",
    LONG,
]
KEY = "k'ey\"; DROP TABLE victim; --"
CURSOR = "cur;sor\"' OR 1=1 --"
VALUE_COLUMNS = [n for n in TABLES if n not in ("x" + INJECT, "semi;colon")]
COLUMNS = [KEY, CURSOR, *VALUE_COLUMNS]
EMOJI = "emoji_🚀"
#: MariaDB cannot name anything with a character beyond U+FFFF: its runs select the others.
MYSQL_COLUMNS = [c for c in COLUMNS if c != EMOJI]

VALUES = [
    "O'Brien",
    'say "hi"',
    "back\\slash\\",
    "semi;colon" + INJECT,
    "ünï 表 🚀",
    "pct %s %% %(x)s",
    "line\nbreak\ttab",
    "`tick`",
    "$1 ? :x",
    "",
    None,
]
#: The max cursor value is the hostile one: every later read binds it in its WHERE clause.
CURSORS = ["A O'Brien", 'B "quoted"', "O'Brien\"; DROP TABLE victim; --\\"]
ROWS = [
    (key, CURSORS[key - 1], *(VALUES[(key + j) % len(VALUES)] for j in range(len(VALUE_COLUMNS))))
    for key in (1, 2, 3)
]
METHODS = ["overwrite", "merge", "incremental"]
METADATA = ["_hw_loaded_at", "_hw_load_id"]


@dataclass
class Side:
    """One real database, queried through its own driver on one connection kept open (which
    also keeps a DuckDB file's instance alive between runs); hostile names quoted by hand."""

    kind: str
    props: dict[str, Any]
    schemas: dict[str, str] = field(default_factory=dict)  # method -> target schema
    prefixes: dict[str, str] = field(default_factory=dict)  # method -> target prefix
    conn: Any = field(default=None, repr=False)

    def quote(self, name: str) -> str:
        return quote_backtick(name) if self.kind == "mysql" else quote_ident(name)

    def ref(self, schema: str | None, name: str) -> str:
        if schema and self.kind != "sqlite":
            return f"{self.quote(schema)}.{self.quote(name)}"
        return self.quote(name)

    def connection(self) -> Any:
        if self.conn is None:
            if self.kind == "postgres":
                self.conn = pg_connect(self.props)
            elif self.kind == "mysql":
                self.conn = mysql_connect(self.props["database"])
            elif self.kind == "sqlite":
                self.conn = sqlite3.connect(self.props["path"])
            else:
                # Same configuration as Headwater's sandboxed connections: DuckDB shares one
                # instance per file in a process and refuses a second configuration.
                self.conn = duckdb.connect(self.props["path"], config=SANDBOX_CONFIG)
        return self.conn

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    def query(self, statement: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one statement; the column names and rows it returns (none for DDL/DML)."""
        conn = self.connection()
        if self.kind == "mysql":
            with conn.cursor() as cursor:
                cursor.execute(statement)  # no parameters: PyMySQL leaves the text alone
                names = [d[0] for d in cursor.description or ()]
                return names, list(cursor.fetchall())
        cursor = conn.execute(statement.encode() if self.kind == "postgres" else statement)
        if self.kind == "postgres":
            names = [d.name for d in cursor.description or ()]
        else:
            names = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall() if names else []
        if self.kind == "sqlite":
            conn.commit()
        return names, [tuple(r) for r in rows]

    def execute(self, *statements: str) -> None:
        for statement in statements:
            self.query(statement)

    def table(self, ref: str, columns: list[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
        """All the table's column names, in order, and its rows over ``columns``, sorted."""
        names, rows = self.query(f"SELECT * FROM {ref}")
        index = [names.index(c) for c in columns]
        return names, sorted((tuple(r[i] for i in index) for r in rows), key=repr)

    def plant_victim(self) -> None:
        self.execute(
            "CREATE TABLE victim (id integer, note varchar(20))",
            "INSERT INTO victim VALUES (1, 'still here')",
        )

    def assert_victim(self) -> None:
        _, rows = self.query("SELECT id, note FROM victim")
        assert rows == [(1, "still here")], f"{self.kind}: the victim table changed"


def create_pg_table(side: Side, schema: str | None, name: str, columns: list[str]) -> None:
    defs = [f"{side.quote(KEY)} integer PRIMARY KEY"]
    defs += [f"{side.quote(c)} text" for c in columns if c != KEY]
    side.execute(f"CREATE TABLE {side.ref(schema, name)} ({', '.join(defs)})")


def insert_rows(side: Side, ref: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert rows as literals, quoted with each dialect's own rules."""
    for row in rows:
        values = ", ".join(_literal(side.kind, v) for v in row)
        items = ", ".join(side.quote(c) for c in columns)
        side.execute(f"INSERT INTO {ref} ({items}) VALUES ({values})")


def _literal(kind: str, value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("'", "''")
    if kind == "mysql":  # backslash escapes are on in the session's sql_mode
        text = text.replace("\\", "\\\\")
    return f"'{text}'"


def project(rows: list[tuple[Any, ...]], columns: list[str]) -> list[tuple[Any, ...]]:
    index = [COLUMNS.index(c) for c in columns]
    return sorted((tuple(r[i] for i in index) for r in rows), key=repr)


@dataclass
class World:
    source: Side
    targets: dict[str, Side]
    registry: Any


#: test id -> target connector
TARGETS = {
    "postgres": "postgres",  # binary COPY rows straight from the source (incremental: Arrow)
    "postgres_arrow": "faulty_pg_arrow",  # Arrow batches written as CSV COPY
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "mysql": "mysql",
}


def _hostile_schemas(tag: str) -> dict[str, str]:
    """Per load method a target schema (a MariaDB database: unique, the server is shared)."""
    return {
        "overwrite": f'ow"; DROP TABLE victim; -- {tag}',
        "merge": f"mg`{INJECT} {tag}",
        "incremental": f"inc%s\\{INJECT} {tag}",  # %: the state table lives here
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("hostile")
    schemas = _hostile_schemas(uuid.uuid4().hex[:6])
    with (
        pg_database("hostile_src") as src,
        pg_database("hostile_dst") as dst,
        pg_database("hostile_dst_arrow") as dst_arrow,
        mysql_database("hostile") as my,
    ):
        source = Side("postgres", src)
        targets = {
            "postgres": Side("postgres", dst, schemas),
            "postgres_arrow": Side("postgres", dst_arrow, schemas),
            "sqlite": Side("sqlite", {"path": str(tmp / "t.sqlite")}, prefixes=schemas),
            "duckdb": Side("duckdb", {"path": str(tmp / "t.duckdb")}, schemas),
            "mysql": Side("mysql", my, schemas),
        }
        try:
            for table in TABLES:
                create_pg_table(source, None, table, COLUMNS)
                insert_rows(source, source.quote(table), COLUMNS, ROWS)
            for side in [source, *targets.values()]:
                side.plant_victim()
            yield World(source, targets, faulty_registry())
        finally:
            for side in [source, *targets.values()]:
                side.close()
            drops = [f"DROP DATABASE IF EXISTS {quote_backtick(s)}" for s in schemas.values()]
            mysql_exec(my, *drops)


def run(world: World, target: str, table: str, method: str, **kw: Any) -> TableResult:
    side = world.targets[target]
    if method == "merge":
        kw.update(load_method="merge", merge_keys=(KEY,))
    elif method == "incremental":
        kw.update(
            extract_method="incremental",
            cursor_column=CURSOR,
            cursor_type="string",
            load_method="append",
            add_metadata_columns=True,
        )
    if side.kind == "mysql":
        kw.setdefault("columns", tuple(MYSQL_COLUMNS))
    job = TableJob(
        "postgres",
        world.source.props,
        TARGETS[target],
        side.props,
        source_table=table,
        target_schema=side.schemas.get(method),
        target_prefix=side.prefixes.get(method, ""),
        batch_bytes=16 * 1024,
        **kw,
    )
    return run_table_job(job, registry=world.registry)


@pytest.mark.parametrize("table", TABLES, ids=[ascii(t)[1:-1][:16] for t in TABLES])
@pytest.mark.parametrize("target", list(TARGETS))
def test_hostile_table_and_column_names_land_intact_with_each_load_method(world, target, table):
    side = world.targets[target]
    if side.kind == "mysql" and table == EMOJI:
        for method in METHODS:
            with pytest.raises(JobFailed, match="beyond U\\+FFFF") as info:
                run(world, target, table, method)
            assert repr(EMOJI) in str(info.value) and not info.value.transient
        _, tables = side.query("SHOW TABLES")
        assert EMOJI not in {t[0] for t in tables}
        side.assert_victim()
        return
    columns = MYSQL_COLUMNS if side.kind == "mysql" else COLUMNS
    # the Arrow path differs from the native one only in how COPY is fed (incremental
    # appends always go through Arrow, so "postgres" covers them)
    methods = METHODS[:2] if target == "postgres_arrow" else METHODS
    for method in methods:
        result = run(world, target, table, method)
        ref = side.ref(side.schemas.get(method), side.prefixes.get(method, "") + table)
        metadata = METADATA if method == "incremental" else []
        assert side.table(ref, columns) == ([*columns, *metadata], project(ROWS, columns))
        assert result.rows == 3, method
    if "incremental" in methods:
        assert result.cursor_value == CURSORS[-1]
    side.assert_victim()
    world.source.assert_victim()


@pytest.mark.parametrize("target", list(TARGETS))
def test_reruns_match_the_hostile_key_and_bind_the_hostile_cursor_value(world, target):
    side = world.targets[target]
    columns = MYSQL_COLUMNS if side.kind == "mysql" else COLUMNS
    table, name = "x" + INJECT, "rerun" + INJECT

    def ref(method: str) -> str:
        return side.ref(side.schemas.get(method), side.prefixes.get(method, "") + name)

    # merge, then again after the target drifted: rows are upserted back by the hostile key
    run(world, target, table, "merge", target_table=name)
    key, last = side.quote(KEY), side.quote(columns[-1])
    side.execute(
        f"UPDATE {ref('merge')} SET {last} = 'stale' WHERE {key} = 1",
        f"DELETE FROM {ref('merge')} WHERE {key} = 2",
        f"INSERT INTO {ref('merge')} ({key}) VALUES (99)",
    )
    assert run(world, target, table, "merge", target_table=name).rows == 3
    kept = (99, *(None for _ in columns[1:]))
    assert side.table(ref("merge"), columns)[1] == sorted([*project(ROWS, columns), kept], key=repr)

    # the second incremental run reads "cursor >= 'O''Brien\"; DROP ...'": nothing new
    assert run(world, target, table, "incremental", target_table=name).rows == 3
    again = run(world, target, table, "incremental", target_table=name)
    assert (again.rows, again.cursor_value) == (0, CURSORS[-1])
    assert side.table(ref("incremental"), columns)[1] == project(ROWS, columns)
    side.assert_victim()


@pytest.mark.parametrize(
    ("column", "target_table", "reason"),
    [
        (EMOJI, "emoji_col", "beyond U\\+FFFF"),
        (KEY, "trailing space ", "cannot end with a space"),
    ],
)
def test_mysql_refuses_names_it_cannot_hold_naming_them(world, column, target_table, reason):
    side = world.targets["mysql"]
    with pytest.raises(JobFailed, match=reason) as info:
        run(world, "mysql", "select", "overwrite", columns=(KEY, column), target_table=target_table)
    assert repr(column if column == EMOJI else target_table) in str(info.value)
    assert target_table in str(info.value)
    _, tables = side.query("SHOW TABLES")
    assert target_table.rstrip() not in {t[0].rstrip() for t in tables}
    side.assert_victim()


@pytest.mark.parametrize(
    ("target", "too_long", "unit"),
    [
        # 64 characters, 65 bytes: PostgreSQL counts bytes (it would truncate the name)
        ("postgres", LONG + "!!", "bytes"),
        # 65 characters: MariaDB counts characters
        ("mysql", LONG + "!!!", "characters"),
    ],
)
def test_a_name_over_the_target_limit_is_refused_naming_it(world, target, too_long, unit):
    side = world.targets[target]
    with pytest.raises(
        JobFailed,
        match=f"{len(too_long.encode()) if unit == 'bytes' else len(too_long)} {unit} long",
    ) as info:
        run(world, target, LONG, "overwrite", target_table=too_long)
    assert repr(too_long) in str(info.value)
    side.assert_victim()


def test_mysql_takes_64_characters_of_a_multibyte_script(world):
    side = world.targets["mysql"]
    name = "é" * 64  # 128 bytes, 64 characters: within MariaDB's limit
    assert run(world, "mysql", LONG, "overwrite", target_table=name).rows > 0
    _, tables = side.query(
        "SELECT table_schema, table_name FROM information_schema.tables "
        f"WHERE table_name = '{name}'"
    )
    # Only this run's schema counts: a killed earlier run may have left its database behind.
    assert (side.schemas.get("overwrite", side.props["database"]), name) in tables
    side.assert_victim()


# -- the source side: hostile names and cursor values read by each source connector ----------

SOURCE_PAIRS = [
    ("postgres", "postgres"),
    ("mysql", "postgres"),
    ("sqlite", "duckdb"),
    ("duckdb", "sqlite"),
]
SOURCE_SCHEMA = f"src{INJECT}"
SOURCE_TABLE = 'so"urce' + INJECT
JSON_COLUMN = "js`on" + INJECT
LATE_ROWS = [
    # the same cursor value as the stored max (a late row at the boundary) and a later one
    (4, CURSORS[-1], *(None for _ in VALUE_COLUMNS)),
    (5, "P' OR '1'='1", *(VALUES[j % len(VALUES)] for j in range(len(VALUE_COLUMNS)))),
]


@contextlib.contextmanager
def open_side(kind: str, tmp: Path, stem: str) -> Iterator[Side]:
    """A fresh database of ``kind`` with a victim table (and the hostile source schema)."""
    with contextlib.ExitStack() as stack:
        if kind == "postgres":
            side = Side(kind, stack.enter_context(pg_database(f"hostile_{stem}")))
        elif kind == "mysql":
            side = Side(kind, stack.enter_context(mysql_database(f"hostile_{stem}")))
        else:
            side = Side(kind, {"path": str(tmp / f"{stem}.{kind}")})
        stack.callback(side.close)
        if kind in ("postgres", "duckdb"):
            side.execute(f"CREATE SCHEMA {side.quote(SOURCE_SCHEMA)}")
        side.plant_victim()
        yield side


def create_source_table(side: Side) -> tuple[str | None, list[str]]:
    """The hostile source table (in the hostile schema where there are schemas) with ROWS."""
    schema = SOURCE_SCHEMA if side.kind in ("postgres", "duckdb") else None
    columns = MYSQL_COLUMNS if side.kind == "mysql" else COLUMNS
    ref = side.ref(schema, SOURCE_TABLE)
    text = "longtext" if side.kind == "mysql" else "text"
    defs = [f"{side.quote(KEY)} integer PRIMARY KEY"]
    defs += [f"{side.quote(c)} {text}" for c in columns[1:]]
    if side.kind == "mysql":  # MariaDB's JSON is a longtext with a json_valid(`name`) check
        defs.append(f"{side.quote(JSON_COLUMN)} JSON")
    side.execute(f"CREATE TABLE {ref} ({', '.join(defs)})")
    insert_rows(side, ref, columns, project(ROWS, columns))
    return schema, columns


@pytest.mark.parametrize(("source", "target"), SOURCE_PAIRS)
def test_sources_read_hostile_names_and_bind_hostile_cursor_values(source, target, tmp_path):
    with open_side(source, tmp_path, "src") as src, open_side(target, tmp_path, "dst") as dst:
        schema, columns = create_source_table(src)

        def copy(method: str, **kw: Any) -> TableResult:
            job = TableJob(
                source,
                src.props,
                target,
                dst.props,
                source_table=SOURCE_TABLE,
                source_schema=schema,
                columns=kw.pop("columns", tuple(columns)),
                target_prefix=f"{method[:2]}{INJECT}",
                load_method=kw.pop("load_method", method),
                batch_bytes=16 * 1024,
                **kw,
            )
            return run_table_job(job)

        def landed(method: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            return dst.table(dst.quote(f"{method[:2]}{INJECT}{SOURCE_TABLE}"), columns)

        expected = project(ROWS, columns)
        for method in ("overwrite", "append", "merge"):
            copy(method, merge_keys=(KEY,) if method == "merge" else ())
            assert landed(method) == (columns, expected), method

        incremental = dict(
            extract_method="incremental",
            cursor_column=CURSOR,
            cursor_type="string",
            load_method="append",
        )
        assert copy("incremental", **incremental).cursor_value == CURSORS[-1]
        insert_rows(src, src.ref(schema, SOURCE_TABLE), columns, project(LATE_ROWS, columns))
        # reads cursor >= the hostile max (bound), skips the row loaded at it, keeps the rest
        result = copy("incremental", **incremental)
        assert (result.rows, result.cursor_value) == (2, LATE_ROWS[-1][1])
        assert landed("incremental") == (columns, project(ROWS + LATE_ROWS, columns))

        if source == "mysql":  # the json_valid check names a backticked column: still JSON
            copy("json", load_method="overwrite", columns=(KEY, JSON_COLUMN))
            ref = dst.quote(f"js{INJECT}{SOURCE_TABLE}")
            _, types = dst.query(f"SELECT DISTINCT pg_typeof({dst.quote(JSON_COLUMN)}) FROM {ref}")
            assert types == [("jsonb",)]
        src.assert_victim()
        dst.assert_victim()
