"""A default install for the local-path tests: data dir = metadata DB folder, key file, the
built-in DuckDB target, an admin, a member, and narrow tokens the member created."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import DEFAULT_TARGET_NAME, ensure_default_account
from headwater.settings import Settings
from headwater.store.models import Connection, User
from tests.api.tokenhelp import Minted, add_user, mint

MEMBER_PASSWORD = "pw-for-tests"  # tokenhelp.add_user's password


@dataclass
class World:
    sessions: sessionmaker[Session]
    data_dir: Path
    outside: Path
    account_id: str
    environment_id: str
    admin_id: str
    member_id: str
    member_email: str
    admin: Minted  # every scope, created by the admin
    member: Minted  # every scope, created by the member
    writer: Minted  # river:write only, created by the member
    executor: Minted  # river:execute only, created by the member
    warehouse_id: str  # the built-in DuckDB target

    @property
    def prefix(self) -> str:
        return f"/v1/accounts/{self.account_id}/environments/{self.environment_id}"


def make_world(settings: Settings, sessions: sessionmaker[Session], outside: Path) -> World:
    data_dir = settings.resolved_data_dir()
    settings.resolved_secret_key()  # a fresh install writes <data dir>/secret.key
    with sessions() as session:
        boot = ensure_default_account(
            session, admin_email="admin@example.com", admin_password="pw", data_dir=data_dir
        )
        warehouse = session.scalars(
            select(Connection).where(Connection.name == DEFAULT_TARGET_NAME)
        ).one()
    member_id = add_user(sessions, boot.account_id, role="member")
    with sessions() as session:
        member_email = session.get(User, member_id).email  # type: ignore[union-attr]
    return World(
        sessions=sessions,
        data_dir=data_dir,
        outside=outside,
        account_id=boot.account_id,
        environment_id=boot.environment_id,
        admin_id=boot.admin_id,
        member_id=member_id,
        member_email=member_email,
        admin=mint(sessions, boot.account_id, created_by=boot.admin_id),
        member=mint(sessions, boot.account_id, created_by=member_id),
        writer=mint(sessions, boot.account_id, created_by=member_id, scopes=["river:write"]),
        executor=mint(sessions, boot.account_id, created_by=member_id, scopes=["river:execute"]),
        warehouse_id=warehouse.id,
    )
