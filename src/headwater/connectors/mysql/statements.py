"""SQL statements on MySQL/MariaDB (logic SQL steps): scripts, ``KILL QUERY`` on cancel.

``local_infile`` stays off: ``LOAD DATA LOCAL INFILE`` must never read Headwater's own host.
"""

from __future__ import annotations

import threading
from typing import Any

import pymysql

from headwater.connectors.outbound import one_address
from headwater.connectors.statements import (
    MAX_ROWS,
    StatementResult,
    StatementRunner,
    fetch_last,
    on_cancel,
)


class MysqlStatements(StatementRunner):
    def _connect(self, **extra: Any) -> pymysql.connections.Connection[Any]:
        props = self.props
        return pymysql.connect(
            host=one_address(str(props.get("host") or "localhost")),
            port=int(props.get("port") or 3306),
            user=str(props.get("username") or ""),
            password=str(props.get("password") or ""),
            local_infile=False,
            connect_timeout=10,
            **extra,
        )

    def execute(
        self, sql: str, cancel: threading.Event, max_rows: int = MAX_ROWS
    ) -> StatementResult:
        conn = self._connect(
            database=str(self.props.get("database") or "") or None,
            autocommit=True,
            client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
        )
        thread_id = conn.thread_id()

        def kill() -> None:
            killer = self._connect()
            try:
                with killer.cursor() as cursor:
                    cursor.execute(f"KILL QUERY {int(thread_id)}")
            finally:
                killer.close()

        try:
            with on_cancel(cancel, kill), conn.cursor() as cursor:
                cursor.execute(sql)
                return fetch_last(cursor, max_rows)
        finally:
            conn.close()
