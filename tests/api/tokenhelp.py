"""Helpers for tests that need tokens, users and a second account (no fixtures: explicit calls)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from headwater.security.passwords import hash_password
from headwater.security.scopes import ALL_SCOPES
from headwater.security.tokens import display_prefix, hash_token, new_token_secret
from headwater.store.models import Account, ApiToken, Environment, PlanChange, User


@dataclass(frozen=True)
class Minted:
    secret: str
    id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def mint(
    sessions: sessionmaker[Session],
    account_id: str,
    *,
    created_by: str | None,
    scopes: Iterable[str] = ALL_SCOPES,
    environment_ids: list[str] | None = None,
    name: str = "test token",
) -> Minted:
    """A token row written straight to the store (no admin or plan rules), for test setup."""
    secret = new_token_secret()
    with sessions() as session:
        token = ApiToken(
            account_id=account_id,
            name=name,
            token_hash=hash_token(secret),
            display_prefix=display_prefix(secret),
            scopes=sorted(scopes),
            environment_ids=environment_ids,
            created_by=created_by,
        )
        session.add(token)
        session.commit()
        return Minted(secret, token.id)


def add_user(
    sessions: sessionmaker[Session], account_id: str, *, role: str, email: str | None = None
) -> str:
    with sessions() as session:
        user = User(
            account_id=account_id,
            email=email or f"{role}-{uuid.uuid4().hex[:8]}@example.com",
            name=role.title(),
            role=role,
            password_hash=hash_password("pw-for-tests"),
        )
        session.add(user)
        session.commit()
        return user.id


@dataclass(frozen=True)
class OtherAccount:
    account_id: str
    environment_id: str
    admin_id: str


def add_account(sessions: sessionmaker[Session], *, plan: str = "pro") -> OtherAccount:
    """A second account with an environment and an admin, to prove isolation."""
    with sessions() as session:
        account = Account(name="other", plan=plan)
        session.add(account)
        session.flush()
        session.add(PlanChange(account_id=account.id, to_plan=plan))
        environment = Environment(account_id=account.id, name="default", is_default=True)
        admin = User(
            account_id=account.id,
            email=f"admin-{account.id}@example.com",
            role="admin",
            password_hash="x",
        )
        session.add_all([environment, admin])
        session.commit()
        return OtherAccount(account.id, environment.id, admin.id)


def add_environment(sessions: sessionmaker[Session], account_id: str, name: str) -> str:
    with sessions() as session:
        environment = Environment(account_id=account_id, name=name)
        session.add(environment)
        session.commit()
        return environment.id
