"""A ``rich`` progress display for table copies, for the CLI.

``TableProgress(["public.events", ...])`` is a context manager; ``callback(name)`` returns the
``progress(rows, bytes)`` function to pass to :func:`headwater.engine.run_table_job` for that
table, and ``done``/``failed`` mark the end of a table. Rows and bytes are running totals, the
rate is bytes per second since the table started.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"  # pragma: no cover - the loop always returns


class _RowsBytesColumn(ProgressColumn):
    """``12,345 rows  1.2 MB  3.4 MB/s`` from the task's fields."""

    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        size = float(task.fields.get("bytes", 0))
        elapsed = task.elapsed or 0.0
        rate = human_bytes(size / elapsed) + "/s" if elapsed > 0 else "-"
        status = str(task.fields.get("status", ""))
        return Text(f"{rows:>12,} rows {human_bytes(size):>10} {rate:>12} {status}")


class TableProgress:
    """One line per table: name, spinner-free bar, rows, bytes, rate, elapsed time."""

    def __init__(self, tables: Sequence[str], *, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(bar_width=None),
            _RowsBytesColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        for name in tables:
            self._tasks[name] = self._progress.add_task(
                name, total=None, start=False, rows=0, bytes=0, status=""
            )

    def __enter__(self) -> TableProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def callback(self, name: str, *, min_interval: float = 0.1) -> Callable[[int, int], None]:
        """The ``progress(rows, bytes)`` callback for one table (thread-safe, rate-limited)."""
        task = self._tasks[name]

        def update(rows: int, size: int) -> None:
            now = time.monotonic()
            with self._lock:
                if now - self._last.get(name, 0.0) < min_interval:
                    return
                self._last[name] = now
                self._progress.start_task(task)
                self._progress.update(task, rows=rows, bytes=size)

        return update

    def done(self, name: str, rows: int, size: int) -> None:
        with self._lock:
            task = self._tasks[name]
            self._progress.start_task(task)
            self._progress.update(task, rows=rows, bytes=size, total=1, completed=1, status="done")

    def failed(self, name: str, message: str) -> None:
        with self._lock:
            task = self._tasks[name]
            self._progress.update(task, total=1, completed=0, status=f"failed: {message[:60]}")


def progress_callbacks(
    tables: Sequence[str], *, console: Console | None = None
) -> tuple[TableProgress, dict[str, Callable[[int, int], None]]]:
    """Convenience: the display and a ``{table: callback}`` mapping in one call."""
    display = TableProgress(tables, console=console)
    return display, {name: display.callback(name) for name in tables}
