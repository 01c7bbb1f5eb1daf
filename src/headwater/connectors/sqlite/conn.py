"""Sandboxed SQLite connections and error translation.

Every connection Headwater opens for a user's SQLite connection (source, target, logic SQL
steps) can reach its own database file only: an authorizer refuses ``ATTACH`` of a file (and
so ``VACUUM INTO``, which attaches its output; a plain ``VACUUM`` attaches an unnamed temporary
database and is allowed), ``DETACH``, the ``load_extension()`` SQL function and the pragmas
that point SQLite at other folders. Extension loading stays disabled (Python's default) and the
path is opened as a plain file name, never interpreted as a ``file:`` URI.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from headwater.connectors.errors import (
    Cancelled,
    ConfigurationError,
    ConnectionFailed,
    ConnectorError,
    LoadFailed,
    ObjectNotFound,
    TransientLoadFailed,
    ValueRejected,
)
from headwater.connectors.localpath import checked_path

#: Attached names that are not files: the temporary database a plain ``VACUUM`` uses.
_NOT_FILES = frozenset({"", ":memory:"})
_DENIED_PRAGMAS = frozenset({"temp_store_directory", "data_store_directory"})
_DENIED_FUNCTIONS = frozenset({"load_extension"})


def _authorize(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    """SQLite's authorizer: no other file, no extension, no folder pragmas."""
    if action == sqlite3.SQLITE_ATTACH and (arg1 or "") not in _NOT_FILES:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_DETACH:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _DENIED_PRAGMAS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def sandbox(conn: sqlite3.Connection) -> sqlite3.Connection:
    """Install the authorizer on ``conn`` (and keep extension loading off)."""
    if hasattr(conn, "enable_load_extension"):
        conn.enable_load_extension(False)
    conn.set_authorizer(_authorize)
    return conn


def open_sandboxed(path: str, *, readonly: bool = False, **kwargs: Any) -> sqlite3.Connection:
    """A sandboxed connection to the database file ``path``, checked against the local-path
    rule first (never a file of Headwater's data dir). ``readonly`` opens it ``mode=ro``
    through a URI Headwater builds itself from the resolved path (percent-encoded)."""
    real = checked_path(path, "SQLite")
    what = f"SQLite {path}"
    if readonly:
        if not Path(real).exists():
            raise ObjectNotFound(f"SQLite database file {path} does not exist")
        if not Path(real).is_file():
            raise ConfigurationError(f"{what}: not a file")
        target, uri = f"{Path(real).as_uri()}?mode=ro", True
    else:
        target, uri = real, False
    try:
        conn = sqlite3.connect(target, uri=uri, **kwargs)
    except sqlite3.Error as exc:
        raise translate(exc, what) from None
    return sandbox(conn)


def check_readable(conn: sqlite3.Connection, path: str) -> None:
    """Read the schema once (the connection test), then close ``conn``."""
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise translate(exc, f"SQLite {path}") from None
    finally:
        conn.close()


def translate(exc: BaseException, what: str) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    message = str(exc)
    lowered = message.lower()
    if "interrupted" in lowered:
        return Cancelled(f"{what}: interrupted")
    if "no such table" in lowered or "no such column" in lowered:
        return ObjectNotFound(f"{what}: {message}")
    if "locked" in lowered or "busy" in lowered:
        return TransientLoadFailed(f"{what}: {message}")
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
        return ValueRejected(f"{what}: value rejected: {message}")
    if "unable to open" in lowered:
        return ConnectionFailed(f"{what}: {message}")
    return LoadFailed(f"{what}: {message}")
