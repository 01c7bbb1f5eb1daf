"""The foundation models on both backends: ids, timestamps, constraints, relationships."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from headwater.ids import is_object_id
from headwater.services.bootstrap import ensure_default_account
from headwater.store.models import (
    Account,
    AuditEvent,
    Connection,
    Environment,
    PlanChange,
    User,
)


def test_bootstrap_creates_account_environment_admin_once(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        first = ensure_default_account(session, admin_email="a@example.com", admin_password=None)
    assert first.created and first.generated_password
    with sessions() as session:
        second = ensure_default_account(session, admin_email="a@example.com", admin_password=None)
        assert not second.created
        assert second.generated_password is None
        assert (second.account_id, second.environment_id) == (
            first.account_id,
            first.environment_id,
        )
        account = session.get_one(Account, first.account_id)
        assert account.plan == "pro"
        assert [e.name for e in account.environments] == ["default"]
        assert account.environments[0].is_default
        assert [(c.from_plan, c.to_plan) for c in account.plan_changes] == [(None, "pro")]
        admin = session.get_one(User, first.admin_id)
        assert admin.role == "admin" and admin.password_hash.startswith("$argon2")
        events = session.scalars(select(AuditEvent)).all()
        assert [e.action for e in events] == ["account.bootstrapped"]


def test_ids_are_24_lowercase_hex_and_times_are_utc(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        account = Account(name="acme")
        session.add(account)
        session.commit()
        assert is_object_id(account.id)
    with sessions() as session:
        loaded = session.get_one(Account, account.id)
        assert loaded.created_at.tzinfo is not None
        assert loaded.created_at.utcoffset() == UTC.utcoffset(None)


def test_environment_names_are_unique_per_account(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        one, two = Account(name="one"), Account(name="two")
        session.add_all([one, two])
        session.flush()
        session.add_all(
            [
                Environment(account_id=one.id, name="prod"),
                Environment(account_id=two.id, name="prod"),
            ]
        )
        session.commit()
        session.add(Environment(account_id=one.id, name="prod"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_deleting_an_account_cascades(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        account = Account(name="gone")
        session.add(account)
        session.flush()
        session.add_all(
            [
                Environment(account_id=account.id, name="e"),
                PlanChange(account_id=account.id, to_plan="pro"),
                User(account_id=account.id, email="x@example.com", password_hash="h"),
            ]
        )
        session.commit()
        session.delete(account)
        session.commit()
        assert session.scalars(select(Environment)).all() == []
        assert session.scalars(select(User)).all() == []


def test_bootstrap_with_data_dir_creates_the_embedded_duckdb_target(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with sessions() as session:
        result = ensure_default_account(
            session, admin_email="a@example.com", admin_password="pw", data_dir=tmp_path
        )
        connections = session.scalars(select(Connection)).all()
    assert [(c.name, c.connection_type) for c in connections] == [("warehouse", "duckdb")]
    assert connections[0].properties == {"path": str(tmp_path / "warehouse" / "warehouse.duckdb")}
    assert connections[0].environment_id == result.environment_id
    with sessions() as session:
        ensure_default_account(
            session, admin_email="a@example.com", admin_password="pw", data_dir=tmp_path
        )
        assert len(session.scalars(select(Connection)).all()) == 1
