"""Accounts across the installation: what instance admins create, list, re-plan and disable.

An account (tenant) is created with its default environment and first admin, like the one the
first start makes. Only an instance admin acts here: a user with ``is_instance_admin`` (the
first start's admin), through the console, the CLI, or a token holding ``instance:admin`` that
such a user created and that is granted every environment. An account admin gets 403.

Every operation is audited in the trail of the account it touched, with the actor
``instance_admin`` and no id: the instance admin's user and account belong to another tenant,
whose ids an account must never see. The server log names the instance admin's user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headwater.errors import Conflict, Forbidden, InvalidInput, NotFound
from headwater.services.accounts import apply_plan
from headwater.services.audit import Actor, record
from headwater.services.auth import Principal
from headwater.services.bootstrap import Tenant, create_tenant
from headwater.services.users import normalise_email
from headwater.store.models import Account, Environment, User
from headwater.store.models.accounts import PLANS

logger = logging.getLogger(__name__)

INSTANCE_ADMINS_ONLY = "Only instance admins can manage the accounts of this installation"
OWN_ACCOUNT = (
    "You cannot disable the account you act from: you would lock yourself out. Act from "
    "another instance admin's account"
)


#: Who acts, as the touched account's audit trail shows it (no other tenant's ids).
INSTANCE_ACTOR = Actor(kind="instance_admin")


@dataclass(frozen=True)
class AccountFacts:
    """An account as an instance admin sees it: no data of the account, only its frame."""

    account: Account
    default_environment_id: str | None
    users: int
    admin_emails: list[str]


def require_instance_admin(principal: Principal) -> None:
    if (
        not principal.is_instance_admin
        or "instance:admin" not in principal.scopes
        or principal.environment_ids is not None
    ):
        raise Forbidden(INSTANCE_ADMINS_ONLY)


def _check_plan(plan: str) -> None:
    if plan not in PLANS:
        raise InvalidInput(f"Unknown plan {plan!r}; choose one of {', '.join(PLANS)}")


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 200:
        raise InvalidInput("An account name needs 1 to 200 characters")
    return cleaned


def facts(session: Session, account: Account) -> AccountFacts:
    default = session.scalars(
        select(Environment.id)
        .where(Environment.account_id == account.id)
        .order_by(Environment.is_default.desc(), Environment.created_at)
        .limit(1)
    ).first()
    users = int(
        session.scalar(select(func.count()).select_from(User).where(User.account_id == account.id))
        or 0
    )
    admins = session.scalars(
        select(User.email)
        .where(User.account_id == account.id, User.role == "admin")
        .order_by(User.created_at, User.id)
    ).all()
    return AccountFacts(account, default, users, list(admins))


def list_accounts(session: Session, principal: Principal) -> list[Account]:
    require_instance_admin(principal)
    return list(session.scalars(select(Account).order_by(Account.created_at, Account.id)))


def get_account(session: Session, principal: Principal, account_id: str) -> Account:
    require_instance_admin(principal)
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"Account {account_id} was not found")
    return account


def create_account(
    session: Session,
    principal: Principal,
    *,
    name: str,
    admin_email: str,
    admin_password: str | None,
    plan: str = "pro",
    now: datetime,
    via: str = "api",
) -> Tenant:
    """A further account with its ``default`` environment and admin (password generated unless
    given, returned once). The new admin is an account admin, not an instance admin."""
    require_instance_admin(principal)
    cleaned = _clean_name(name)
    _check_plan(plan)
    address = normalise_email(admin_email)
    if session.scalars(select(User.id).where(User.email == address)).first():
        raise Conflict(f"A user with e-mail {address} already exists")
    tenant = create_tenant(
        session, name=cleaned, plan=plan, admin_email=address, admin_password=admin_password
    )
    record(
        session,
        account_id=tenant.account.id,
        actor=INSTANCE_ACTOR,
        action="account.created",
        entity_type="account",
        entity_id=tenant.account.id,
        details={
            "name": cleaned,
            "plan": plan,
            "admin_email": address,
            "via": via,
        },
        occurred_at=now,
    )
    session.commit()
    logger.info(
        "account %s (%s) created by instance admin %s",
        tenant.account.id,
        cleaned,
        principal.user_id,
    )
    return tenant


def update_account(
    session: Session,
    principal: Principal,
    account_id: str,
    *,
    now: datetime,
    notice_days: int,
    name: str | None = None,
    plan: str | None = None,
    disabled: bool | None = None,
    via: str = "api",
) -> Account:
    """Rename, re-plan, disable or enable an account; each change is its own audit event."""
    account = get_account(session, principal, account_id)
    if disabled and account.id == principal.account_id:
        raise Conflict(OWN_ACCOUNT)
    actor = INSTANCE_ACTOR
    base = {"via": via}
    if name is not None:
        cleaned = _clean_name(name)
        if cleaned != account.name:
            previous, account.name = account.name, cleaned
            record(
                session,
                account_id=account.id,
                actor=actor,
                action="account.renamed",
                entity_type="account",
                entity_id=account.id,
                details={**base, "from_name": previous, "to_name": cleaned},
                occurred_at=now,
            )
    if disabled is not None and disabled != (account.disabled_at is not None):
        account.disabled_at = now if disabled else None
        record(
            session,
            account_id=account.id,
            actor=actor,
            action="account.disabled" if disabled else "account.enabled",
            entity_type="account",
            entity_id=account.id,
            details=base,
            occurred_at=now,
        )
        logger.info(
            "account %s %s by instance admin %s",
            account.id,
            "disabled" if disabled else "enabled",
            principal.user_id,
        )
    if name is not None or plan is not None:
        logger.info("account %s updated by instance admin %s", account.id, principal.user_id)
    session.commit()
    if plan is not None:
        _check_plan(plan)
        account = apply_plan(
            session,
            account,
            plan,
            actor=actor,
            changed_by=None,  # not a user of this account
            now=now,
            notice_days=notice_days,
        )
    session.refresh(account)
    return account


def set_instance_admin(
    session: Session, actor: Actor, email: str, *, grant: bool, now: datetime
) -> User:
    """Grant or revoke instance admin (the CLI, on the machine holding the metadata DB).

    Only account admins can be instance admins, and the installation keeps at least one.
    """
    address = normalise_email(email)
    user = session.scalars(select(User).where(User.email == address)).first()
    if user is None:
        raise NotFound(f"No user has the e-mail {address}")
    if grant and user.role != "admin":
        raise Conflict(f"{address} is a member; make them an admin of their account first")
    if not grant and user.is_instance_admin:
        others = session.scalars(
            select(User.id).where(User.is_instance_admin.is_(True), User.id != user.id)
        ).first()
        if others is None:
            raise Conflict("This is the installation's last instance admin; grant another first")
    if user.is_instance_admin != grant:
        user.is_instance_admin = grant
        record(
            session,
            account_id=user.account_id,
            actor=actor,
            action="user.instance_admin_granted" if grant else "user.instance_admin_revoked",
            entity_type="user",
            entity_id=user.id,
            details={"email": address, "via": "cli"},
            occurred_at=now,
        )
    session.commit()
    return user
