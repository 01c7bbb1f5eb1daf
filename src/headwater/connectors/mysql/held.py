"""Snapshot transactions held open by a change reader, lent to the source's reads.

MySQL/MariaDB cannot export a snapshot to other sessions (PostgreSQL's
``pg_export_snapshot``): the initial snapshot of a CDC table must be read through the very
connection that ran ``START TRANSACTION WITH CONSISTENT SNAPSHOT``. The change reader holds
it here under a random token, which travels as ``ReadRequest.snapshot``; the source's read
borrows the connection for the whole read. One connection serves one result at a time, so
parallel key ranges of a snapshot are read one after the other (each borrower waits).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterator
from typing import Any

_HELD: dict[str, tuple[Any, threading.Lock]] = {}
_GUARD = threading.Lock()


def hold(conn: Any) -> str:
    token = f"mysql-snapshot-{secrets.token_hex(12)}"
    with _GUARD:
        _HELD[token] = (conn, threading.Lock())
    return token


def release(token: str) -> None:
    with _GUARD:
        _HELD.pop(token, None)


def is_held(token: str | None) -> bool:
    with _GUARD:
        return token is not None and token in _HELD


@contextlib.contextmanager
def borrow(token: str) -> Iterator[Any]:
    """The held connection, for one reader at a time; KeyError: no longer held."""
    with _GUARD:
        conn, lock = _HELD[token]
    with lock:
        yield conn
