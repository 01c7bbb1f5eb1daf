"""Engine and session factories for the metadata DB (no module-level engine)."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from headwater.settings import tighten

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _private_sqlite_file(database: str | None) -> None:
    """Create the metadata SQLite file with mode 0600, or tighten an existing one to it.

    It holds every account's users and (encrypted) secrets; SQLite gives its ``-wal`` and
    ``-shm`` files the same mode.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    if not os.path.exists(database):
        folder = os.path.dirname(os.path.abspath(database))
        if os.path.isdir(folder):
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
        return
    if os.path.isfile(database) and os.stat(database).st_mode & 0o077:
        tighten(database)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for SQLite (WAL, busy timeout) or PostgreSQL (psycopg 3, pre-ping)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        _private_sqlite_file(parsed.database)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=20)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
