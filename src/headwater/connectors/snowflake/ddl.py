"""Schema changes of one Snowflake load, and their undo when the load fails.

Snowflake commits the open transaction before every DDL statement, so a load's DDL (a new
target table, the state table, added columns) runs before the load's transaction. Each change
is recorded here and, if the load then fails, reversed newest first: a created table is dropped
while it holds no rows, an added column is dropped. A widened column (``SET DATA TYPE`` to a
longer ``VARCHAR`` or a wider ``NUMBER``) stays widened: Snowflake cannot narrow it back, and
the wider column holds every value it held before.

Limit: a process killed between the DDL and the undo leaves the change in place (an empty
table, a new nullable column); the next run reuses it like any target table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from headwater.connectors.snowflake.conn import connect, run

log = logging.getLogger(__name__)


@dataclass
class DdlJournal:
    props: Mapping[str, Any]
    what: str
    undo: list[tuple[str, str, str]] = field(default_factory=list)

    def created_table(self, table: str) -> None:
        self.undo.append(("table", table, ""))

    def added_column(self, table: str, column: str) -> None:
        self.undo.append(("column", table, column))

    def forget(self) -> None:
        self.undo.clear()

    def rollback(self) -> None:
        """Reverse the recorded DDL; logged, never raised (the load's error is what counts)."""
        if not self.undo:
            return
        steps, self.undo = list(reversed(self.undo)), []
        try:
            conn = connect(self.props)
        except Exception as exc:
            log.error("%s: could not undo the schema changes (%s): %s", self.what, exc, steps)
            return
        try:
            for index, (kind, table, column) in enumerate(steps):
                try:
                    if kind == "column":
                        run(conn, f"ALTER TABLE {table} DROP COLUMN {column}")
                    elif not run(conn, f"SELECT 1 FROM {table} LIMIT 1"):
                        run(conn, f"DROP TABLE IF EXISTS {table}")
                except Exception as exc:
                    log.error(
                        "%s: could not undo the schema changes (%s); left: %s",
                        self.what,
                        exc,
                        steps[index:],
                    )
                    return
        finally:
            conn.close()
