"""SQL statements on SQLite (logic SQL steps), in the connection's own file only.

The connection is the sandboxed one (``conn.open_sandboxed``: no ``ATTACH``, no extensions);
a script runs statement by statement and commits once at the end.
"""

from __future__ import annotations

import sqlite3
import threading

from headwater.connectors.sqlite.conn import open_sandboxed
from headwater.connectors.statements import (
    MAX_ROWS,
    StatementResult,
    StatementRunner,
    fetch,
    on_cancel,
)


def split_script(sql: str) -> list[str]:
    """Complete statements of a script, several on a line too: the text is cut after each
    ``;`` that ends a complete statement (``sqlite3.complete_statement`` decides, so a ``;``
    inside a string, a comment or a trigger body does not cut)."""
    statements: list[str] = []
    start = 0
    for end, char in enumerate(sql):
        if char == ";" and sqlite3.complete_statement(sql[start : end + 1]):
            statements.append(sql[start : end + 1])
            start = end + 1
    statements.append(sql[start:])
    return [s for s in statements if s.strip()]


class SqliteStatements(StatementRunner):
    def execute(
        self, sql: str, cancel: threading.Event, max_rows: int = MAX_ROWS
    ) -> StatementResult:
        conn = open_sandboxed(str(self.props["path"]), check_same_thread=False)
        try:
            with on_cancel(cancel, conn.interrupt):
                result = StatementResult()
                for statement in split_script(sql):
                    cursor = conn.execute(statement)
                    if cursor.description is not None:
                        result = fetch(cursor, max_rows)
                conn.commit()
                return result
        finally:
            conn.close()
