"""One portable migration tree: a single head; upgrade, downgrade and upgrade again with rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from headwater.store import migrate
from headwater.store.base import Base
from headwater.store.engine import make_engine
from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database


@pytest.fixture(params=["sqlite", "postgres"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        yield engine
        engine.dispose()
        return
    require_service("postgres")
    url = create_pg_database("hw_migr")
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop_pg_database(url)


def test_single_head(empty_engine: Engine) -> None:
    assert len(migrate.heads(empty_engine)) == 1


def test_migrated_schema_matches_models(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    tables = set(inspect(empty_engine).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    for table in Base.metadata.sorted_tables:
        columns = {c["name"] for c in inspect(empty_engine).get_columns(table.name)}
        assert {c.name for c in table.columns} == columns, table.name


def test_upgrade_downgrade_upgrade_with_rows(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine)
    with empty_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, name, plan, created_at) "
                "VALUES ('aaaaaaaaaaaaaaaaaaaaaaaa', 'kept', 'pro', CURRENT_TIMESTAMP)"
            )
        )
    migrate.downgrade(empty_engine, "0001")
    with empty_engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM accounts")).scalar_one() == "kept"
    migrate.upgrade(empty_engine)
    migrate.downgrade(empty_engine, "base")
    assert "accounts" not in inspect(empty_engine).get_table_names()
    migrate.upgrade(empty_engine)
    assert "accounts" in inspect(empty_engine).get_table_names()
