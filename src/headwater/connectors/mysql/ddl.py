"""Schema changes of one MySQL/MariaDB load, and their undo when the load fails.

MySQL and MariaDB commit every DDL statement on its own (MariaDB cannot roll DDL back at all),
so the target table's schema work is done before the load transaction. :class:`DdlJournal`
records each change as it is made and, when the load then fails, reverses them newest first
on a fresh connection: a created table or state table is dropped (only while it holds no
rows), an added column is dropped, a widened column gets its former definition back, a
created database is dropped once empty. The target is then as it was before the load.

Limit: a process killed between the DDL and the undo leaves the change in place (a new empty
table, a new nullable column, a wider column). The next run reconciles it like any target
table: the table is reused, the column is already there and is filled from then on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from headwater.connectors.mysql.conn import connect
from headwater.connectors.sqltext import qualified, quote_backtick

log = logging.getLogger(__name__)

UNDO_LOCK_WAIT_SECONDS = 60


def column_definition(create_table: str, name: str) -> str | None:
    """The full definition of ``name`` (type, nullability, default, collation, comment) as
    ``SHOW CREATE TABLE`` prints it: valid as is in ``MODIFY COLUMN``."""
    prefix = f"  {quote_backtick(name)} "
    for line in create_table.splitlines():
        if line.startswith(prefix):
            return line.strip().rstrip(",")
    return None


@dataclass
class DdlJournal:
    """The reversible record of one load's DDL (see the module docstring)."""

    props: Mapping[str, Any]
    what: str
    undo: list[tuple[str, str]] = field(default_factory=list)

    def created_database(self, schema: str) -> None:
        self.undo.append(("database", schema))

    def created_table(self, schema: str, name: str) -> None:
        self.undo.append(("table", qualified(schema, name, quote="`")))

    def added_column(self, table: str, name: str) -> None:
        self.undo.append(("statement", f"ALTER TABLE {table} DROP COLUMN {quote_backtick(name)}"))

    def modified_column(self, table: str, definition: str) -> None:
        self.undo.append(("statement", f"ALTER TABLE {table} MODIFY COLUMN {definition}"))

    def forget(self) -> None:
        """The load committed: its DDL stays."""
        self.undo.clear()

    def rollback(self) -> None:
        """Reverse the recorded DDL, newest first; logged, never raised (the load's own error
        is what the run reports)."""
        if not self.undo:
            return
        steps, self.undo = list(reversed(self.undo)), []
        try:
            conn = connect(self.props)
        except Exception as exc:
            log.error("%s: could not undo the schema changes (%s): %s", self.what, exc, steps)
            return
        try:
            with conn.cursor() as cursor:
                # bounded: a reader holding the table's metadata lock must not hang the abort
                cursor.execute(f"SET SESSION lock_wait_timeout = {UNDO_LOCK_WAIT_SECONDS}")
                for index, (kind, subject) in enumerate(steps):
                    try:
                        _UNDO[kind](cursor, subject)
                    except Exception as exc:
                        log.error(
                            "%s: could not undo the schema changes (%s); left: %s",
                            self.what,
                            exc,
                            steps[index:],
                        )
                        return
            conn.commit()
        finally:
            conn.close()


def _drop_table_if_empty(cursor: Any, table: str) -> None:
    cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")
    if cursor.fetchone() is None:  # rows written meanwhile by another load stay
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _drop_database_if_empty(cursor: Any, schema: str) -> None:
    cursor.execute("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (schema,))
    if cursor.fetchone() is None:
        cursor.execute(f"DROP DATABASE IF EXISTS {quote_backtick(schema)}")


def _run(cursor: Any, statement: str) -> None:
    cursor.execute(statement)


_UNDO: dict[str, Callable[[Any, str], None]] = {
    "database": _drop_database_if_empty,
    "table": _drop_table_if_empty,
    "statement": _run,
}
