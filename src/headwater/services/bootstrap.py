"""First-start bootstrap: the default account, its default environment and an admin user.

The first admin is also the installation's instance admin: the one who may create further
accounts (``headwater accounts create``, ``/v1/instance/accounts``).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.security.local_paths import USER_FOLDERS
from headwater.security.passwords import hash_password
from headwater.services.audit import Actor, record
from headwater.store.models import Account, Connection, Environment, PlanChange, User

DEFAULT_ACCOUNT_NAME = "Default account"
DEFAULT_ENVIRONMENT_NAME = "default"
DEFAULT_TARGET_NAME = "warehouse"
DEFAULT_TARGET_FILE = "warehouse.duckdb"
#: The default target's folder in the data dir: one of the folders local connections may use
#: (``HEADWATER_LOCAL_ROOTS``); the data dir's top level is Headwater's own and never usable.
DEFAULT_TARGET_FOLDER = "warehouse"
assert DEFAULT_TARGET_FOLDER in USER_FOLDERS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BootstrapResult:
    account_id: str
    environment_id: str
    admin_email: str
    admin_id: str
    generated_password: str | None  # set only when this call created the admin with a new password
    created: bool


@dataclass(frozen=True)
class Tenant:
    """A new account with its default environment and first admin (flushed, not committed)."""

    account: Account
    environment: Environment
    admin: User
    generated_password: str | None  # when no password was given: shown once, never stored


def create_tenant(
    session: Session,
    *,
    name: str,
    plan: str,
    admin_email: str,
    admin_password: str | None,
    instance_admin: bool = False,
) -> Tenant:
    """The rows every account starts with: the account, its plan history, ``default``, an admin.

    Shared by the first start and by instance admins creating further accounts, so every
    account looks the same however it was made. The caller audits and commits.
    """
    account = Account(name=name, plan=plan)
    session.add(account)
    session.flush()
    session.add(PlanChange(account_id=account.id, from_plan=None, to_plan=plan))
    environment = Environment(account_id=account.id, name=DEFAULT_ENVIRONMENT_NAME, is_default=True)
    generated = None if admin_password else secrets.token_urlsafe(12)
    admin = User(
        account_id=account.id,
        email=admin_email,
        name="Admin",
        role="admin",
        password_hash=hash_password(admin_password or generated or ""),
        is_instance_admin=instance_admin,
    )
    session.add_all([environment, admin])
    session.flush()
    return Tenant(account, environment, admin, generated)


def ensure_default_account(
    session: Session,
    *,
    admin_email: str,
    admin_password: str | None,
    data_dir: Path | None = None,
) -> BootstrapResult:
    """Create the default account, environment and admin once; later calls reuse them.

    With ``data_dir``, the first start also creates the embedded default target: a DuckDB
    connection named ``warehouse`` whose file is ``<data dir>/warehouse/warehouse.duckdb``, and
    the ``files/`` and ``warehouse/`` folders local connections may use; later starts move a
    default target left at the data dir's top level by an older version into ``warehouse/``.
    """
    if data_dir is not None:
        _make_user_folders(data_dir)
    account = session.scalars(select(Account).order_by(Account.created_at).limit(1)).first()
    if account is not None:
        if data_dir is not None:
            _move_legacy_default_target(session, data_dir)
        environment = session.scalars(
            select(Environment).where(
                Environment.account_id == account.id, Environment.is_default.is_(True)
            )
        ).one()
        admin = session.scalars(
            select(User)
            .where(User.account_id == account.id, User.role == "admin")
            .order_by(User.created_at)
            .limit(1)
        ).one()
        return BootstrapResult(account.id, environment.id, admin.email, admin.id, None, False)

    tenant = create_tenant(
        session,
        name=DEFAULT_ACCOUNT_NAME,
        plan="pro",
        admin_email=admin_email,
        admin_password=admin_password,
        instance_admin=True,
    )
    account, environment, admin, generated = (
        tenant.account,
        tenant.environment,
        tenant.admin,
        tenant.generated_password,
    )
    if data_dir is not None:
        session.add(
            Connection(
                account_id=account.id,
                environment_id=environment.id,
                name=DEFAULT_TARGET_NAME,
                connection_type="duckdb",
                properties={"path": str(data_dir / DEFAULT_TARGET_FOLDER / DEFAULT_TARGET_FILE)},
                created_by=admin.id,
            )
        )
    record(
        session,
        account_id=account.id,
        actor=Actor.system(),
        action="account.bootstrapped",
        entity_type="account",
        entity_id=account.id,
        details={"admin_email": admin_email},
    )
    session.commit()
    return BootstrapResult(account.id, environment.id, admin.email, admin.id, generated, True)


def _make_user_folders(data_dir: Path) -> None:
    for name in USER_FOLDERS:
        folder = data_dir / name
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def _move_legacy_default_target(session: Session, data_dir: Path) -> None:
    """Move ``<data dir>/warehouse.duckdb`` (where versions before the local-path rule kept
    the default target) into ``warehouse/`` and repoint the DuckDB connections that named it:
    the data dir's top level is no longer usable by connections."""
    legacy = data_dir / DEFAULT_TARGET_FILE
    moved = data_dir / DEFAULT_TARGET_FOLDER / DEFAULT_TARGET_FILE
    users = [
        c
        for c in session.scalars(select(Connection).where(Connection.connection_type == "duckdb"))
        if str(c.properties.get("path", "")) == str(legacy)
    ]
    if not users:
        return
    if legacy.exists() and not moved.exists():
        for suffix in ("", ".wal"):
            if Path(f"{legacy}{suffix}").exists():
                os.replace(f"{legacy}{suffix}", f"{moved}{suffix}")
        log.warning("Moved the default DuckDB target %s to %s", legacy, moved)
    for connection in users:
        connection.properties = {**connection.properties, "path": str(moved)}
    session.commit()
