"""The SQL variable scanner against the real databases: any value, in every place a reference
can be (code, string literals of each kind, dollar-quoted bodies, next to comments), runs as
exactly that value and never as SQL - checked by executing the rendered statement through the
SQL-step executor on PostgreSQL, MariaDB, SQLite, DuckDB and Snowflake (fakesnow), with a
``victim`` table that must survive every example."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pymysql
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from headwater.connectors.postgres.conn import connect as pg_connect
from headwater.connectors.snowflake.conn import connect as snowflake_connect
from headwater.connectors.sqlite.statements import split_script
from headwater.runner.sql_render import DIALECTS, UnsafeValue, render_sql
from headwater.runner.variables import Scope
from tests.connectors.dbkit import mysql_database, mysql_exec, pg_database, pg_exec
from tests.connectors.fakesnow_server import fakesnow_server, snowflake_props

TOKENS = [
    "'", "''", '"', "\\", "\\'", "`", "$", "$$", "$q$", "--", "-- ", "#", "/*", "*/", "/*!",
    "\n", "\r\n", ";", "{", "}", "{v}", "E'", "U&'", "]", "[", " ", "a", "0", "-1", "é", "😀",
    "%s", "%(v)s", "?", ":v", "\t", "\x1a", "DROP TABLE victim;", "'; DROP TABLE victim; --",
]  # fmt: skip
VALUES = st.one_of(
    st.text(
        alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",)),
        max_size=40,
    ),
    st.lists(st.sampled_from(TOKENS), max_size=12).map("".join),
)
FAKESNOW_VARIABLE = re.compile(r"\$\w")
FAST = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: Every string context of each dialect in one statement, with comments around.
TEMPLATES = {
    "postgres": "SELECT '{v}' AS a, {v} AS b, E'{v}' AS c, U&'{v}' AS d, e'{v}' AS e"
    " /* {v} /* nested {v} */ {v} */ -- {v}\n",
    "duckdb": "SELECT '{v}' AS a, {v} AS b, E'{v}' AS c /* {v} /* nested {v} */ {v} */ -- {v}\n",
    "sqlite": "SELECT '{v}' AS a, {v} AS b /* {v} */ -- {v}\n",
    "mysql": "SELECT '{v}' AS a, {v} AS b, \"{v}\" AS c /* {v} */ # {v}\n -- {v}\n",
    "snowflake": "SELECT '{v}' AS a, {v} AS b /* {v} */ -- {v}\n // {v}\n",
}
#: Dollar-quoted bodies: PostgreSQL code (a DO block), DuckDB a plain string.
DOLLAR = {
    "postgres": "DROP TABLE IF EXISTS pg_temp.o; CREATE TEMP TABLE o (v text);"
    " DO $q$ BEGIN INSERT INTO o VALUES ('{v}'), ({v}), (E'{v}'); END $q$; SELECT v FROM o",
    "duckdb": "SELECT $q${v}$q$ AS a, $${v}$$ AS b",
    "snowflake": "SELECT $${v}$$ AS a, $${v}$$ AS b",
}


class Database:
    """One open session on a real database; ``run`` renders and executes like a SQL step
    (several statements allowed, the last result returned) without the step's per-statement
    connection, so hundreds of examples take seconds."""

    def __init__(self, connection_type: str, execute: Callable[[str], list[tuple[Any, ...]]]):
        self.connection_type = connection_type
        self.execute = execute

    def run(self, template: str, value: Any) -> list[tuple[Any, ...]]:
        dialect = DIALECTS[self.connection_type]
        # fakesnow replaces $name session variables even inside string literals (Snowflake
        # does not), so such values cannot be checked against it
        if self.connection_type == "snowflake" and FAKESNOW_VARIABLE.search(str(value)):
            assume(False)
        return self.execute(render_sql(template, Scope({"v": value}).lookup, dialect))

    def assert_intact(self) -> None:
        rows = self.execute("SELECT id, note FROM victim")
        assert [tuple(r) for r in rows] == [(1, "keep me")], "the victim table was changed"


def _last_result(cursor: Any) -> list[tuple[Any, ...]]:
    rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
    while cursor.nextset():
        if cursor.description is not None:
            rows = [tuple(r) for r in cursor.fetchall()]
    return rows


@contextlib.contextmanager
def _database(kind: str, tmp: Path) -> Iterator[Database]:
    create = "CREATE TABLE victim (id int, note varchar(20))"
    insert = "INSERT INTO victim VALUES (1, 'keep me')"
    if kind == "postgres":
        with pg_database("hw_sqlrender") as props:
            # A database whose default reads backslashes in '...': the connector pins
            # standard_conforming_strings for its sessions, so values still read back exactly.
            name = props["database"]
            pg_exec(
                {**props, "database": "postgres"},
                f'ALTER DATABASE "{name}" SET standard_conforming_strings = off',
            )
            pg_exec(props, create, insert)
            with pg_connect(props, autocommit=True) as conn:

                def run_pg(statement: str) -> list[tuple[Any, ...]]:
                    with conn.cursor() as cursor:
                        cursor.execute(statement.encode())
                        return _last_result(cursor)

                yield Database(kind, run_pg)
    elif kind == "mysql":
        with mysql_database("hw_sqlrender") as props:
            mysql_exec(props, create, insert)
            conn = pymysql.connect(  # as runner.sql_exec connects
                host=props["host"],
                port=int(props["port"]),
                user=props["username"],
                password=props["password"],
                database=props["database"],
                autocommit=True,
                client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
            )

            def run_mysql(statement: str) -> list[tuple[Any, ...]]:
                with conn.cursor() as cursor:
                    cursor.execute(statement)
                    return _last_result(cursor)

            try:
                yield Database(kind, run_mysql)
            finally:
                conn.close()
    elif kind == "snowflake":
        with fakesnow_server(tmp / "fakesnow.log") as port:
            props = snowflake_props(port)
            conn = snowflake_connect(props)
            conn.execute_string(f"{create}; {insert}")

            def run_snowflake(statement: str) -> list[tuple[Any, ...]]:
                # as the SQL step runs a script: split by the driver, last result kept
                cursors = conn.execute_string(statement, remove_comments=False)
                last = [c for c in cursors if c.description is not None][-1:]
                return [tuple(r) for r in last[0].fetchall()] if last else []

            try:
                yield Database(kind, run_snowflake)
            finally:
                conn.close()
    elif kind == "sqlite":
        with contextlib.closing(sqlite3.connect(tmp / "render.sqlite")) as conn:
            conn.execute(create)
            conn.execute(insert)

            def run_sqlite(statement: str) -> list[tuple[Any, ...]]:
                rows: list[tuple[Any, ...]] = []
                for part in split_script(statement):
                    if part.strip():
                        cursor = conn.execute(part)
                        rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else rows
                return rows

            yield Database(kind, run_sqlite)
    else:
        with duckdb.connect(str(tmp / "render.duckdb")) as conn:
            conn.execute(create)
            conn.execute(insert)

            def run_duckdb(statement: str) -> list[tuple[Any, ...]]:
                return [tuple(r) for r in conn.execute(statement).fetchall()]

            yield Database(kind, run_duckdb)


@pytest.fixture(scope="module", params=sorted(DIALECTS))
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    with _database(request.param, tmp_path_factory.mktemp(request.param)) as db:
        yield db


@FAST
@given(value=VALUES)
def test_any_text_reads_back_exactly_in_every_string_context(
    database: Database, value: str
) -> None:
    rows = database.run(TEMPLATES[database.connection_type], value)
    assert len(rows) == 1
    assert all(column == value for column in rows[0]), (value, rows)
    database.assert_intact()


@FAST
@given(value=VALUES)
def test_dollar_quoted_bodies_hold_any_value_or_refuse_it(database: Database, value: str) -> None:
    template = DOLLAR.get(database.connection_type)
    if template is None:
        return
    try:
        rows = database.run(template, value)
    except UnsafeValue:
        assert "$" in value  # only a value that could end the body is refused
    else:
        assert [c for row in rows for c in row] == [value] * (len(rows) * len(rows[0]))
        assert len(rows) * len(rows[0]) in {2, 3}
    database.assert_intact()


@FAST
@given(
    value=st.one_of(
        st.integers(min_value=-(2**62), max_value=2**62),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
    )
)
def test_numbers_stay_numbers_and_a_negative_one_cannot_start_a_comment(
    database: Database, value: float
) -> None:
    # "1 -{v}" with v = -5 would be "1 --5": a comment hiding the rest of the line.
    rows = database.run("SELECT 1 -{v} AS a, 7 AS b", value)
    assert float(rows[0][0]) == pytest.approx(1 - value)
    assert rows[0][1] == 7
    database.assert_intact()


def test_lists_none_and_booleans_are_literals(database: Database) -> None:
    rows = database.run("SELECT count(*) FROM victim WHERE note IN ({v})", ["keep me", "x'y"])
    assert rows == [(1,)]
    assert database.run("SELECT count(*) FROM victim WHERE note IN ({v})", []) == [(0,)]
    assert database.run("SELECT {v} IS NULL", None)[0][0] in {True}
    assert database.run("SELECT CASE WHEN {v} THEN 'yes' ELSE 'no' END", True) == [("yes",)]


def test_a_nul_character_is_refused_everywhere(database: Database) -> None:
    with pytest.raises(UnsafeValue, match="NUL"):
        database.run("SELECT '{v}'", "a\x00'; DROP TABLE victim; --")
    database.assert_intact()


# -- lexical edge cases (no database needed) ---------------------------------------------------


def _render(template: str, dialect: str, **values: Any) -> str:
    return render_sql(template, Scope(values).lookup, DIALECTS[dialect])


def test_comments_keep_references_as_written() -> None:
    hostile = "*/ DROP TABLE victim; /*\n DROP TABLE victim; --"
    for dialect in DIALECTS:
        rendered = _render("SELECT 1 /* {v} */ -- {v}\n", dialect, v=hostile)
        assert rendered == "SELECT 1 /* {v} */ -- {v}\n"
    # PostgreSQL and DuckDB comments nest; SQLite's end at the first */.
    assert _render("/* a /* b */ {v} */", "postgres", v="x") == "/* a /* b */ {v} */"
    assert _render("/* a /* b */ {v}", "sqlite", v="x") == "/* a /* b */ 'x'"


def test_mysql_dash_comment_needs_a_space_and_hash_is_a_comment() -> None:
    assert _render("SELECT 1--{v}", "mysql", v=5) == "SELECT 1--5"  # 1 - (-5): code
    assert _render("SELECT 1 -- {v}", "mysql", v=5) == "SELECT 1 -- {v}"
    assert _render("SELECT 1 # {v}", "mysql", v=5) == "SELECT 1 # {v}"
    assert _render("SELECT 1 # {v}", "postgres", v=5) == "SELECT 1 # 5"


def test_values_that_cannot_be_written_safely_are_refused() -> None:
    with pytest.raises(UnsafeValue, match="executable comments"):
        _render("SELECT 1 /*! , {v} */", "mysql", v="x")
    with pytest.raises(UnsafeValue, match=r"'\]'"):
        _render("SELECT 1 AS [{v}]", "sqlite", v="a] FROM victim; DROP TABLE victim; --")
    with pytest.raises(UnsafeValue, match="dollar-quoted"):
        _render("SELECT $q$ {v} $q$", "duckdb", v="$q$; DROP TABLE victim; --")
    with pytest.raises(UnsafeValue, match="dollar-quoted"):
        _render("SELECT $$a{v}$$", "duckdb", v="b$")  # "b$" + "$$" would end the body early
    from headwater.runner.sql_render import dialect_for

    with pytest.raises(UnsafeValue, match="'oracle'"):
        dialect_for("oracle")
    with pytest.raises(UnsafeValue, match="'plugged' connection"):
        dialect_for("", "plugged")


def test_identifiers_double_their_quote() -> None:
    assert _render('SELECT 1 AS "{v}"', "postgres", v='a"b') == 'SELECT 1 AS "a""b"'
    assert _render("SELECT 1 AS `{v}`", "mysql", v="a`b") == "SELECT 1 AS `a``b`"
    assert _render('SELECT "{v}"', "mysql", v='a"\\') == 'SELECT "a""\\\\"'  # a string there


def test_raw_variables_are_spliced_and_literals_never_merge() -> None:
    scope = Scope({"t": "events e", "ids": [1, 2], "s": "x"}, raw={"t", "ids"})
    rendered = render_sql("SELECT * FROM {t} WHERE id IN ({ids})", scope.lookup, DIALECTS["sqlite"])
    assert rendered == "SELECT * FROM events e WHERE id IN (1, 2)"
    assert _render("SELECT 'a'{s}", "postgres", s="b") == "SELECT 'a' 'b'"
