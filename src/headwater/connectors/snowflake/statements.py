"""SQL statements on Snowflake (logic SQL steps): scripts split by the driver, cancel by id.

A script runs statement by statement (``execute_string``, Snowflake's own splitter); the
result is the last statement's that returned rows. Cancelling aborts the running statement
server-side with ``SYSTEM$CANCEL_ALL_QUERIES`` on this session, from a second connection.
"""

from __future__ import annotations

import contextlib
import threading

from headwater.connectors.snowflake.conn import connect, run, translate
from headwater.connectors.statements import (
    MAX_ROWS,
    StatementResult,
    StatementRunner,
    fetch,
    on_cancel,
)


class SnowflakeStatements(StatementRunner):
    def execute(
        self, sql: str, cancel: threading.Event, max_rows: int = MAX_ROWS
    ) -> StatementResult:
        conn = connect(self.props)
        session = int(conn.session_id or 0)

        def interrupt() -> None:
            killer = connect(self.props)
            try:
                run(killer, f"SELECT SYSTEM$CANCEL_ALL_QUERIES({session})")
            finally:
                killer.close()

        try:
            with on_cancel(cancel, interrupt):
                cursors = conn.execute_string(sql, remove_comments=False, return_cursors=True)
            result = StatementResult()
            for cursor in cursors:
                if cursor.description is not None or not result.columns:
                    result = fetch(cursor, max_rows)
            return result
        except Exception as exc:
            if cancel.is_set():
                raise translate(exc, "Snowflake SQL step (cancelled)") from None
            raise translate(exc, "Snowflake SQL step") from None
        finally:
            with contextlib.suppress(Exception):
                conn.close()
