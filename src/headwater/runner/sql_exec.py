"""Run one SQL statement on a connection and return its rows (logic ``sql`` steps).

The connector interface moves tables (``Source.read``/``Target.begin``); it has no "execute
this statement" call, so this module opens the connection type's own driver with the same
properties. Results are capped at ``MAX_ROWS``: a statement whose result is meant for a table
goes through the engine (``target_table``), not through here. Cancelling the run interrupts
the statement server-side where the driver allows it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from headwater.connectors.errors import ConnectorError
from headwater.connectors.outbound import one_address

MAX_ROWS = 100_000


class SqlFailed(Exception):
    """The statement failed; the message names the connection type and the cause."""

    transient = False


@dataclass
class SqlResult:
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    affected: int = -1


@contextmanager
def _on_cancel(cancel: threading.Event, interrupt: Callable[[], None]) -> Any:
    """Call ``interrupt`` from a watcher thread if ``cancel`` is set while the body runs."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if cancel.wait(0.2):
                with suppress(Exception):  # the statement may have just finished
                    interrupt()
                return

    watcher = threading.Thread(target=watch, name="headwater-sql-cancel", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join(timeout=5)


def _fetch(cursor: Any) -> SqlResult:
    if cursor.description is None:
        return SqlResult(affected=int(getattr(cursor, "rowcount", -1) or -1))
    columns = [str(d[0]) for d in cursor.description]
    rows = [tuple(row) for row in cursor.fetchmany(MAX_ROWS)]
    return SqlResult(columns=columns, rows=rows, affected=len(rows))


def _postgres(props: Mapping[str, Any], sql: str, cancel: threading.Event) -> SqlResult:
    from headwater.connectors.postgres.conn import connect

    with connect(props, autocommit=True) as conn:
        with _on_cancel(cancel, conn.cancel_safe), conn.cursor() as cursor:
            cursor.execute(sql.encode())
            result = _fetch(cursor)
            # Several statements: the last one that returned rows is the result.
            while cursor.nextset():
                if cursor.description is not None:
                    result = _fetch(cursor)
        return result


def _mysql(props: Mapping[str, Any], sql: str, cancel: threading.Event) -> SqlResult:
    import pymysql

    conn = pymysql.connect(
        host=one_address(str(props.get("host") or "localhost")),
        port=int(props.get("port") or 3306),
        user=str(props.get("username") or ""),
        password=str(props.get("password") or ""),
        database=str(props.get("database") or "") or None,
        autocommit=True,
        client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
        local_infile=False,  # LOAD DATA LOCAL INFILE must not read this host's files
        connect_timeout=10,
    )
    thread_id = conn.thread_id()

    def kill() -> None:
        killer = pymysql.connect(
            host=one_address(str(props.get("host") or "localhost")),
            port=int(props.get("port") or 3306),
            user=str(props.get("username") or ""),
            password=str(props.get("password") or ""),
            connect_timeout=10,
        )
        try:
            with killer.cursor() as cursor:
                cursor.execute(f"KILL QUERY {int(thread_id)}")
        finally:
            killer.close()

    try:
        with _on_cancel(cancel, kill), conn.cursor() as cursor:
            cursor.execute(sql)
            result = _fetch(cursor)
            while cursor.nextset():
                if cursor.description is not None:
                    result = _fetch(cursor)
            return result
    finally:
        conn.close()


def _sqlite(props: Mapping[str, Any], sql: str, cancel: threading.Event) -> SqlResult:
    from headwater.connectors.sqlite.conn import open_sandboxed  # own file only

    conn = open_sandboxed(str(props["path"]), check_same_thread=False)
    try:
        with _on_cancel(cancel, conn.interrupt):
            statements = [s for s in _split_sqlite(sql) if s.strip()]
            result = SqlResult()
            for statement in statements:
                cursor = conn.execute(statement)
                result = _fetch(cursor) if cursor.description is not None else result
            conn.commit()
            return result
    finally:
        conn.close()


def _split_sqlite(sql: str) -> list[str]:
    """Split a script into complete statements (``sqlite3.complete_statement`` decides)."""
    statements: list[str] = []
    current = ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current)
            current = ""
    if current.strip():
        statements.append(current)
    return statements


def _duckdb(props: Mapping[str, Any], sql: str, cancel: threading.Event) -> SqlResult:
    from headwater.connectors.duckdb.conn import connect  # sandboxed: own file only

    conn = connect(str(props["path"]), must_exist=False)
    try:
        with _on_cancel(cancel, conn.interrupt):
            cursor = conn.execute(sql)
            return _fetch(cursor)
    finally:
        conn.close()


EXECUTORS: dict[str, Callable[[Mapping[str, Any], str, threading.Event], SqlResult]] = {
    "postgres": _postgres,
    "mysql": _mysql,
    "sqlite": _sqlite,
    "duckdb": _duckdb,
}


def execute_sql(
    connection_type: str, props: Mapping[str, Any], sql: str, cancel: threading.Event
) -> SqlResult:
    """Run ``sql`` (one statement or a script) on the connection; rows of the last result."""
    executor = EXECUTORS.get(connection_type)
    if executor is None:
        known = ", ".join(sorted(EXECUTORS))
        raise SqlFailed(
            f"SQL steps cannot run on a {connection_type!r} connection (supported: {known})"
        )
    try:
        return executor(props, sql, cancel)
    except ConnectorError as exc:
        raise SqlFailed(f"{connection_type}: {exc}") from None
    except Exception as exc:
        if cancel.is_set():
            raise
        raise SqlFailed(f"{connection_type}: {type(exc).__name__}: {exc}") from None
