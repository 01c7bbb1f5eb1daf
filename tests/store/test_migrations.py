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


CHILD_ROWS = {
    "environments": "SELECT name FROM environments",
    "users": "SELECT email FROM users",
    "api_tokens": "SELECT name FROM api_tokens",
}


def _seed_rows(engine: Engine) -> None:
    account = "a" * 24
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, name, plan, created_at) "
                f"VALUES ('{account}', 'kept', 'pro', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO environments (id, account_id, name, is_default, created_at) "
                f"VALUES ('{'b' * 24}', '{account}', 'env kept', true, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO users (id, account_id, email, name, role, password_hash, is_active,"
                f" created_at) VALUES ('{'c' * 24}', '{account}', 'kept@example.com', 'k',"
                " 'admin', 'h', true, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO api_tokens (id, account_id, name, token_hash, display_prefix, scopes,"
                f" created_at) VALUES ('{'d' * 24}', '{account}', 'token kept', '{'e' * 64}',"
                " 'hwt_x', '[]', CURRENT_TIMESTAMP)"
            )
        )


def _rows_kept(engine: Engine, tables: dict[str, str]) -> None:
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM accounts")).scalar_one() == "kept"
        for table, query in tables.items():
            assert len(connection.execute(text(query)).all()) == 1, f"{table} lost its row"


def test_upgrade_downgrade_upgrade_with_rows(empty_engine: Engine) -> None:
    """Rows survive every downgrade step and the way back (SQLite batch mode rebuilds tables,
    and a rebuilt parent table with cascading foreign keys would take its children along)."""
    migrate.upgrade(empty_engine)
    _seed_rows(empty_engine)
    revisions = _revisions(empty_engine)[1:]  # 0002 up to the head
    for revision in reversed(revisions):
        migrate.downgrade(empty_engine, revision)
        _rows_kept(empty_engine, CHILD_ROWS)
    migrate.downgrade(empty_engine, "0001")
    _rows_kept(empty_engine, {k: v for k, v in CHILD_ROWS.items() if k != "api_tokens"})
    migrate.upgrade(empty_engine)
    _rows_kept(empty_engine, {k: v for k, v in CHILD_ROWS.items() if k != "api_tokens"})
    migrate.downgrade(empty_engine, "base")
    assert "accounts" not in inspect(empty_engine).get_table_names()
    migrate.upgrade(empty_engine)
    assert "accounts" in inspect(empty_engine).get_table_names()


def _revisions(engine: Engine) -> list[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    # the chain from base to head (ids only sort by name up to 0022)
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]
