"""Migration 0015: an existing installation gets its instance admin (the first admin of the
oldest account, nobody else) and accounts start enabled; the way back keeps every row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from headwater.store import migrate
from tests.store.revisions import engine_at


@pytest.fixture(params=["sqlite", "postgres"])
def engine_0014(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with engine_at(request.param, tmp_path, "0014", "hw_m0015") as engine:
        yield engine


def _seed(engine: Engine) -> None:
    rows = [
        # account, created, users: (id, role, created)
        ("a" * 24, "2026-01-02 00:00:00", [("1" * 24, "admin", "2026-01-02 00:00:00")]),
        (
            "b" * 24,
            "2026-01-01 00:00:00",
            [
                ("2" * 24, "member", "2026-01-01 00:00:00"),
                ("3" * 24, "admin", "2026-01-01 00:00:01"),
                ("4" * 24, "admin", "2026-01-01 00:00:02"),
            ],
        ),
    ]
    with engine.begin() as connection:
        for account, created, users in rows:
            connection.execute(
                text(
                    "INSERT INTO accounts (id, name, plan, created_at) "
                    "VALUES (:id, 'x', 'pro', :created)"
                ),
                {"id": account, "created": created},
            )
            for user, role, at in users:
                connection.execute(
                    text(
                        "INSERT INTO users (id, account_id, email, name, role, password_hash,"
                        " is_active, created_at) VALUES (:id, :account, :email, '', :role, 'h',"
                        " true, :at)"
                    ),
                    {
                        "id": user,
                        "account": account,
                        "email": f"{user}@x.io",
                        "role": role,
                        "at": at,
                    },
                )


def test_0015_grants_one_instance_admin_and_keeps_rows_both_ways(engine_0014: Engine) -> None:
    _seed(engine_0014)
    migrate.upgrade(engine_0014, "0015")
    with engine_0014.connect() as connection:
        flagged = (
            connection.execute(
                text("SELECT id FROM users WHERE is_instance_admin = :yes"), {"yes": True}
            )
            .scalars()
            .all()
        )
        disabled = connection.execute(
            text("SELECT count(*) FROM accounts WHERE disabled_at IS NOT NULL")
        ).scalar_one()
    assert flagged == ["3" * 24] and disabled == 0
    migrate.downgrade(engine_0014, "0014")
    assert "is_instance_admin" not in {c["name"] for c in inspect(engine_0014).get_columns("users")}
    with engine_0014.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users")).scalar_one() == 4
