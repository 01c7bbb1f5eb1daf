"""A metadata DB brought to one migration revision, on SQLite or a throwaway PostgreSQL
database: the starting point of every test of one migration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from headwater.store import migrate
from headwater.store.engine import make_engine
from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database


@contextmanager
def engine_at(backend: str, tmp_path: Path, revision: str, prefix: str) -> Iterator[Engine]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        migrate.upgrade(engine, revision)
        yield engine
        engine.dispose()
        return
    require_service("postgres")
    url = create_pg_database(prefix)
    engine = make_engine(url)
    migrate.upgrade(engine, revision)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_pg_database(url)
