"""The connectors' SQL statement capability: a connector that declares a statement runner
gets logic SQL steps through ``runner.sql_exec`` with no change to the runner."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec
from headwater.connectors.registry import Registry, default_registry
from headwater.connectors.statements import MAX_ROWS, StatementResult, StatementRunner
from headwater.runner.sql_exec import SqlFailed, execute_sql
from headwater.runner.sql_render import render_statement
from headwater.runner.variables import Scope

#: The SQL each toy statement saw, so the test can check what reached the "database".
SEEN: list[str] = []


class EchoStatements(StatementRunner):
    """A plugin's runner: answers every statement with its own text as one row."""

    def execute(
        self, sql: str, cancel: threading.Event, max_rows: int = MAX_ROWS
    ) -> StatementResult:
        SEEN.append(sql)
        return StatementResult(columns=["sql", "greeting"], rows=[(sql, self.props["greeting"])])


def _registry() -> Registry:
    registry = Registry(default_registry().specs())
    registry.register(
        ConnectorSpec(
            "echo_sql",
            "Echo SQL",
            (PropertySpec("greeting", "string", required=True),),
            Capabilities(sql_dialect="postgres"),
            statements_class=f"{__name__}:EchoStatements",
        )
    )
    return registry


def test_a_plugin_with_a_statement_runner_runs_sql_steps() -> None:
    registry = _registry()
    spec = registry.get("echo_sql")
    scope = Scope({"day": "x' OR '1'='1"})
    statement = render_statement(
        "SELECT * FROM t WHERE d = {day}", scope.lookup, spec.capabilities.sql_dialect, "echo_sql"
    )
    result = execute_sql(registry, "echo_sql", {"greeting": "hi"}, statement, threading.Event())
    assert result.rows == [("SELECT * FROM t WHERE d = 'x'' OR ''1''=''1'", "hi")]
    assert SEEN[-1] == statement
    assert spec.to_dict()["capabilities"]["sql_dialect"] == "postgres"


def test_a_connector_without_statements_is_refused_by_name() -> None:
    with pytest.raises(SqlFailed) as info:
        execute_sql(_registry(), "local_files", {"root": "/tmp"}, "SELECT 1", threading.Event())
    message = str(info.value)
    assert "'local_files'" in message
    for name in ("duckdb", "echo_sql", "mysql", "postgres", "sqlite"):
        assert name in message


def test_statement_runners_are_opened_with_the_connection_checks(tmp_path: Path) -> None:
    """Properties are resolved and checked like a source's: a missing one fails clearly."""
    with pytest.raises(SqlFailed, match="greeting"):
        execute_sql(_registry(), "echo_sql", {}, "SELECT 1", threading.Event())


def test_builtin_runners_return_the_last_result_bounded(tmp_path: Path) -> None:
    database = tmp_path / "files" / "t.db"
    database.parent.mkdir()
    sqlite3.connect(database).close()
    runner = default_registry().open_statements("sqlite", {"path": str(database)})
    result = runner.execute(
        "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2), (3);\n"
        "SELECT n FROM t ORDER BY n -- the last result\n",
        threading.Event(),
        max_rows=2,
    )
    assert result.columns == ["n"] and result.rows == [(1,), (2,)]
