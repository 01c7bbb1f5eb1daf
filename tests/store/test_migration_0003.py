"""Migration 0003 (token management) keeps existing tokens and audit rows both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from headwater.store import migrate
from tests.store.revisions import engine_at


@pytest.fixture(params=["sqlite", "postgres"])
def engine_0002(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with engine_at(request.param, tmp_path, "0002", "hw_m0003") as engine:
        yield engine


def _columns(engine: Engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_0003_adds_columns_and_keeps_rows(engine_0002: Engine) -> None:
    with engine_0002.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, name, plan, created_at) "
                "VALUES ('aaaaaaaaaaaaaaaaaaaaaaaa', 'kept', 'pro', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO api_tokens (id, account_id, name, token_hash, display_prefix, "
                "scopes, created_at) VALUES ('bbbbbbbbbbbbbbbbbbbbbbbb', "
                "'aaaaaaaaaaaaaaaaaaaaaaaa', 'old', :digest, 'hwt_abcdefgh', '[]', "
                "CURRENT_TIMESTAMP)"
            ),
            {"digest": "0" * 64},
        )
    migrate.upgrade(engine_0002, "0003")
    assert {"deleted_by", "deletion_reason"} <= _columns(engine_0002, "api_tokens")
    assert "plan_notice_ends_at" in _columns(engine_0002, "accounts")
    assert "actor_user_id" in _columns(engine_0002, "audit_events")
    indexes = {i["name"] for i in inspect(engine_0002).get_indexes("api_tokens")}
    assert "ix_api_tokens_expires_at" in indexes
    with engine_0002.connect() as connection:
        row = connection.execute(text("SELECT name, deletion_reason FROM api_tokens")).one()
        assert tuple(row) == ("old", None)
    migrate.downgrade(engine_0002, "0002")
    assert "deleted_by" not in _columns(engine_0002, "api_tokens")
    with engine_0002.connect() as connection:
        assert connection.execute(text("SELECT name FROM api_tokens")).scalar_one() == "old"
