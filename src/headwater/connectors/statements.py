"""The connectors' "run this SQL" capability, used by logic SQL steps.

A connector that can run SQL names a :class:`StatementRunner` subclass in its spec
(``ConnectorSpec.statements_class``) and its quoting rules in ``Capabilities.sql_dialect``.
The registry opens it like a source or target (the same property, local-path and outbound
checks), so a new SQL connector gets logic SQL steps without any change to the runner.

A result is bounded (``max_rows``): a statement whose rows are meant for a table goes through
the engine, not through here. Cancelling interrupts the statement server-side where the driver
can (``on_cancel``).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

#: The most rows a statement's result keeps (the rest are not fetched).
MAX_ROWS = 100_000


@dataclass
class StatementResult:
    """The last result set of a statement or script: its columns and (bounded) rows, or the
    count of rows the last statement changed (``-1`` when the driver does not say)."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    affected: int = -1


class StatementRunner(ABC):
    """Runs SQL text on one connection's database. ``execute`` opens and closes its own
    connection, so a runner holds nothing between calls."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        self.props = props

    @abstractmethod
    def execute(
        self, sql: str, cancel: threading.Event, max_rows: int = MAX_ROWS
    ) -> StatementResult:
        """Run ``sql`` (one statement or a script); the rows of the last result."""


@contextmanager
def on_cancel(cancel: threading.Event, interrupt: Callable[[], None]) -> Iterator[None]:
    """Call ``interrupt`` from a watcher thread if ``cancel`` is set while the body runs."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if cancel.wait(0.05):
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


def fetch(cursor: Any, max_rows: int) -> StatementResult:
    """A DB-API cursor's current result, at most ``max_rows`` rows of it."""
    if cursor.description is None:
        return StatementResult(affected=int(getattr(cursor, "rowcount", -1) or -1))
    columns = [str(d[0]) for d in cursor.description]
    rows = [tuple(row) for row in cursor.fetchmany(max_rows)]
    return StatementResult(columns=columns, rows=rows, affected=len(rows))


def fetch_last(cursor: Any, max_rows: int) -> StatementResult:
    """After a multi-statement script: the last result that returned rows (or the first)."""
    result = fetch(cursor, max_rows)
    while cursor.nextset():
        if cursor.description is not None:
            result = fetch(cursor, max_rows)
    return result
