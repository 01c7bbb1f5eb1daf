"""Connections and catalogue facts shared by the table jobs of one run group.

A river of many small tables used to open four PostgreSQL connections per table (describe
the source, describe the target, create the state table, load), and to ask the catalogue the
same questions table after table: for 1,000-row tables that fixed cost was most of the run.
Inside :func:`reusing` (the runner opens it around a run group), connectors lend connections
from a :class:`ConnectionShelf` instead of opening new ones, give them back when they are idle
and healthy, and remember facts (a schema's columns, a state table that exists) for the rest
of the group. Outside it everything opens and closes per call, as before.

The shelf is shared by the group's worker threads (the runner copies this context into each),
so a connection is used by one thread at a time and tables pipeline over the shelf's
connections. Everything is closed when the group ends.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Hashable, Iterator
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Idle connections kept per key; more than the threads of a group never help.
MAX_IDLE_PER_KEY = 8


class Closeable(Protocol):
    def close(self) -> None: ...


class ConnectionShelf:
    """Idle connections by key (connector and properties), and facts learnt on the way."""

    def __init__(self) -> None:
        self._idle: dict[Hashable, list[Any]] = {}
        self._facts: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> Any | None:
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def give(self, key: Hashable, connection: Closeable) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < MAX_IDLE_PER_KEY:
                idle.append(connection)
                return
        connection.close()

    def fact(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per group (two threads may both compute; either answer is kept)."""
        with self._lock:
            if key in self._facts:
                return self._facts[key]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            return self._facts.setdefault(key, value)  # type: ignore[no-any-return]

    def close_all(self) -> None:
        with self._lock:
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
            self._facts.clear()
        for connection in idle:
            with contextlib.suppress(Exception):
                connection.close()


_SHELF: ContextVar[ConnectionShelf | None] = ContextVar("headwater_connection_shelf", default=None)


def current_shelf() -> ConnectionShelf | None:
    return _SHELF.get()


@contextlib.contextmanager
def reusing() -> Iterator[ConnectionShelf]:
    """Share connections and catalogue facts among the table jobs run inside the block."""
    shelf = ConnectionShelf()
    token = _SHELF.set(shelf)
    try:
        yield shelf
    finally:
        _SHELF.reset(token)
        shelf.close_all()
