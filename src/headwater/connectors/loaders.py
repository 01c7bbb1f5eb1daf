"""What a target or source has running, so ``cancel`` and ``close`` reach every piece of it.

Every SQL and file target keeps an ``OpenLoaders``: the way a running load is interrupted
differs per database (``interrupt``, ``pg_cancel_backend``, ``KILL QUERY``), rolling back
does not.
DuckDB and SQLite sources keep a ``RunningReads``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from headwater.connectors.base import KeyedWrite


class _OpenLoader(Protocol):
    active: bool

    def abort(self) -> None: ...


L = TypeVar("L", bound=_OpenLoader)


class OpenLoaders(list[L]):
    """A list of a target's loaders (``append`` in ``begin``) with the two shared walks."""

    def add(self, loader: L) -> L:
        """Keep ``loader`` (``begin`` returns what this returns)."""
        self.append(loader)
        return loader

    def active(self) -> list[L]:
        """The loaders whose load has neither committed nor aborted yet."""
        return [loader for loader in self if loader.active]

    def abort_all(self) -> None:
        """Roll back every load still open (``abort`` of a finished one does nothing)."""
        for loader in self:
            loader.abort()
        self.clear()


class _Interruptible(Protocol):
    def interrupt(self) -> None: ...

    def close(self) -> None: ...


C = TypeVar("C", bound=_Interruptible)


class RunningReads(Generic[C]):
    """The connections a source is reading on, so ``cancel`` from another thread reaches them.

    DuckDB and SQLite both stop a statement with ``interrupt``; each read opens its own
    connection and registers it for as long as it runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: set[C] = set()

    @contextlib.contextmanager
    def running(self, conn: C) -> Iterator[C]:
        """Register ``conn`` while the block runs; then forget and close it."""
        with self._lock:
            self._conns.add(conn)
        try:
            yield conn
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def interrupt_all(self) -> None:
        with self._lock:
            for conn in self._conns:
                conn.interrupt()


def keyed_sql(
    write: KeyedWrite, table: str, quote: Callable[[str], str], placeholder: Callable[[int], str]
) -> str:
    """The statement of ``write`` for ``table`` (already quoted), one row of parameters per
    execution: ``quote`` quotes an identifier, ``placeholder(i)`` is the i-th parameter."""
    index = 0

    def param() -> str:
        nonlocal index
        index += 1
        return placeholder(index)

    sets = [f"{quote(name)} = {param()}" for name in write.assign]
    conditions = [] if write.everything else [f"{quote(k)} = {param()}" for k in write.key]
    if write.only_true:
        conditions.append(f"{quote(write.only_true)}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    if not write.assign:
        return f"DELETE FROM {table}{where}"
    return f"UPDATE {table} SET {', '.join(sets)}{where}"


def keyed_params(write: KeyedWrite) -> list[tuple[Any, ...]]:
    """Parameters in statement order: the SET values come first in the text of an UPDATE,
    the key conditions after them."""
    if write.everything or not write.assign:
        return write.rows
    width = len(write.key)
    return [row[width:] + row[:width] for row in write.rows]
