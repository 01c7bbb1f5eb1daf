"""SQL statements on DuckDB (logic SQL steps), sandboxed to the connection's own file."""

from __future__ import annotations

import threading

from headwater.connectors.duckdb.conn import connect
from headwater.connectors.statements import (
    MAX_ROWS,
    StatementResult,
    StatementRunner,
    fetch,
    on_cancel,
)


class DuckdbStatements(StatementRunner):
    def execute(
        self, sql: str, cancel: threading.Event, max_rows: int = MAX_ROWS
    ) -> StatementResult:
        conn = connect(str(self.props["path"]), must_exist=False)
        try:
            with on_cancel(cancel, conn.interrupt):
                return fetch(conn.execute(sql), max_rows)
        finally:
            conn.close()
