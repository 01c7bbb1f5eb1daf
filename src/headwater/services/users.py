"""Account users and their roles; only admins manage them, and an account keeps one admin.

Tokens act with their creator's admin power, computed at every request, so demoting or
deleting an admin removes that power from the tokens they created without touching the tokens.

Admin power is not enough on its own: making someone ``role`` grants that role's scopes in
every environment, so the caller must hold them all (``services.grants.require_role_held``);
the same goes for changing or deleting a user, so a narrow ``user:edit`` token can neither
create an admin (and sign in as it) nor demote or remove someone more powerful than itself.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.errors import Conflict, Forbidden, InvalidInput, NotFound
from headwater.security.passwords import hash_password
from headwater.services.audit import record
from headwater.services.auth import Principal, actor_for
from headwater.services.grants import require_role_held
from headwater.services.names import checked_name, clash
from headwater.store.models import User
from headwater.store.models.accounts import ROLES

logger = logging.getLogger(__name__)

ADMINS_ONLY = "Only account admins can manage users"
LAST_ADMIN = "The account's last admin cannot be demoted or deleted; make another user admin first"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class CreatedUser:
    user: User
    generated_password: str | None  # shown once when the caller chose no password


def require_user_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden(ADMINS_ONLY)


def normalise_email(email: str) -> str:
    """Trimmed, NFC, lower-case (how e-mails are stored and looked up at login)."""
    cleaned = checked_name(email.strip(), "email").lower()
    if not _EMAIL.match(cleaned) or len(cleaned) > 320:
        raise InvalidInput(f"Invalid e-mail address {email!r}")
    return cleaned


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}")


def list_users(session: Session, principal: Principal) -> list[User]:
    require_user_admin(principal)
    return list(
        session.scalars(
            select(User)
            .where(User.account_id == principal.account_id)
            .order_by(User.created_at, User.id)
        )
    )


def get_user(session: Session, principal: Principal, user_id: str) -> User:
    require_user_admin(principal)
    return _user(session, principal.account_id, user_id)


def _user(session: Session, account_id: str, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None or user.account_id != account_id:
        raise NotFound(f"User {user_id} was not found")
    return user


def _admin_count(session: Session, account_id: str) -> int:
    """Active admins, rows locked on PostgreSQL so two demotions cannot both pass the check."""
    admins = session.scalars(
        select(User.id)
        .where(User.account_id == account_id, User.role == "admin", User.is_active.is_(True))
        .with_for_update()
    ).all()
    return len(admins)


def create_user(
    session: Session,
    principal: Principal,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    now: datetime,
    via: str = "api",
) -> CreatedUser:
    require_user_admin(principal)
    _check_role(role)
    require_role_held(principal, role)
    address = normalise_email(email)
    name = checked_name(name, "name")
    emails = session.execute(select(User.id, User.email))
    other = clash(address, ((str(i), str(e)) for i, e in emails), None)
    if other is not None:
        why = "" if other == address else " (it differs only in letter case or Unicode form)"
        raise Conflict(f"A user with e-mail {other} already exists{why}")
    generated = None if password else secrets.token_urlsafe(12)
    user = User(
        account_id=principal.account_id,
        email=address,
        name=name,
        role=role,
        password_hash=hash_password(password or generated or ""),
        created_at=now,
    )
    session.add(user)
    session.flush()
    record(
        session,
        account_id=user.account_id,
        actor=actor_for(principal),
        action="user.created",
        entity_type="user",
        entity_id=user.id,
        details={"email": address, "role": role, "via": via},
        occurred_at=now,
    )
    session.commit()
    logger.info("user %s created in account %s with role %s", user.id, user.account_id, role)
    return CreatedUser(user=user, generated_password=generated)


def update_user(
    session: Session,
    principal: Principal,
    user_id: str,
    *,
    now: datetime,
    role: str | None = None,
    name: str | None = None,
) -> User:
    """Change a user's role and/or name; the last admin cannot be demoted (409)."""
    require_user_admin(principal)
    user = _user(session, principal.account_id, user_id)
    require_role_held(principal, user.role, instance_admin=user.is_instance_admin)
    if role is not None and role != user.role:
        _check_role(role)
        require_role_held(principal, role)
    if name is not None:
        user.name = checked_name(name, "name")
    if role is not None and role != user.role:
        if user.role == "admin" and _admin_count(session, user.account_id) <= 1:
            raise Conflict(LAST_ADMIN)
        previous = user.role
        user.role = role
        record(
            session,
            account_id=user.account_id,
            actor=actor_for(principal),
            action="user.role_changed",
            entity_type="user",
            entity_id=user.id,
            details={"email": user.email, "from_role": previous, "to_role": role},
            occurred_at=now,
        )
    session.commit()
    return user


def delete_user(session: Session, principal: Principal, user_id: str, *, now: datetime) -> None:
    """Remove the user; their tokens keep working but lose any admin power."""
    require_user_admin(principal)
    user = _user(session, principal.account_id, user_id)
    require_role_held(principal, user.role, instance_admin=user.is_instance_admin)
    if user.role == "admin" and _admin_count(session, user.account_id) <= 1:
        raise Conflict(LAST_ADMIN)
    record(
        session,
        account_id=user.account_id,
        actor=actor_for(principal),
        action="user.deleted",
        entity_type="user",
        entity_id=user.id,
        details={"email": user.email, "role": user.role},
        occurred_at=now,
    )
    session.delete(user)
    session.commit()
    logger.info("user %s deleted from account %s", user_id, principal.account_id)
