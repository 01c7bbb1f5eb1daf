"""SQL statements on PostgreSQL (logic SQL steps): autocommit, server-side cancel."""

from __future__ import annotations

import threading

from headwater.connectors.postgres.conn import connect
from headwater.connectors.statements import (
    MAX_ROWS,
    StatementResult,
    StatementRunner,
    fetch_last,
    on_cancel,
)


class PostgresStatements(StatementRunner):
    def execute(
        self, sql: str, cancel: threading.Event, max_rows: int = MAX_ROWS
    ) -> StatementResult:
        with (
            connect(self.props, autocommit=True) as conn,
            on_cancel(cancel, conn.cancel_safe),
            conn.cursor() as cursor,
        ):
            # Bytes: psycopg sends the text as is (no client-side parameter parsing of %).
            cursor.execute(sql.encode())
            return fetch_last(cursor, max_rows)
