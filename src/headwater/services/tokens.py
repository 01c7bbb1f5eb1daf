"""API token management: only account admins list, create, view and delete tokens.

Admin power alone is not enough to grant: a caller hands out only scopes and environments it
holds itself (``services.grants``), and an environment-limited caller sees and deletes only
tokens that stay inside its environments (others answer 404, as if absent).

A token's secret exists in clear only in the return value of ``create_token``; the store keeps
its SHA-256 digest. Deleted tokens keep their row (``deleted_at``), so the digest stays taken and
the unique constraint makes sure the same value can never be issued again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from headwater.errors import Forbidden, NotFound, Unprocessable
from headwater.security.scopes import unknown_scopes
from headwater.security.tokens import display_prefix, hash_token, new_token_secret
from headwater.services.audit import Actor, record
from headwater.services.auth import Principal, actor_for
from headwater.services.grants import require_environments_held, require_scopes_held, within_reach
from headwater.services.names import checked_name
from headwater.store.models import Account, ApiToken, Environment, User

logger = logging.getLogger(__name__)

ADMINS_ONLY = "Only account admins can manage API tokens"
STARTER_PLAN = (
    "API tokens are not available on the starter plan; an admin can change the plan to "
    "pro or enterprise"
)


@dataclass(frozen=True)
class CreatedToken:
    """A new token and its secret: the only moment the secret exists outside the caller."""

    token: ApiToken
    secret: str


def require_token_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden(ADMINS_ONLY)


def _reaches(principal: Principal, token: ApiToken) -> bool:
    granted = None if token.environment_ids is None else [str(e) for e in token.environment_ids]
    return within_reach(principal, granted)


def list_tokens(session: Session, principal: Principal) -> list[ApiToken]:
    require_token_admin(principal)
    found = session.scalars(
        select(ApiToken)
        .where(ApiToken.account_id == principal.account_id, ApiToken.deleted_at.is_(None))
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    return [t for t in found if _reaches(principal, t)]


def get_token(session: Session, principal: Principal, token_id: str) -> ApiToken:
    require_token_admin(principal)
    return _live_token(session, principal, token_id)


def _live_token(session: Session, principal: Principal, token_id: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if (
        token is None
        or token.account_id != principal.account_id
        or token.deleted_at is not None
        or not _reaches(principal, token)
    ):
        raise NotFound(f"API token {token_id} was not found")
    return token


def _granted_environments(
    session: Session, account_id: str, environment_ids: list[str] | None
) -> list[str] | None:
    """``None`` (every environment, also future ones) or the checked, de-duplicated list."""
    if environment_ids is None:
        return None
    wanted = list(dict.fromkeys(environment_ids))
    known = set(
        session.scalars(
            select(Environment.id).where(
                Environment.account_id == account_id, Environment.id.in_(wanted)
            )
        )
    )
    missing = [e for e in wanted if e not in known]
    if missing:
        raise Unprocessable(f"Unknown environments for this account: {', '.join(missing)}")
    return wanted


def create_token(
    session: Session,
    principal: Principal,
    *,
    name: str,
    scopes: list[str],
    environment_ids: list[str] | None,
    now: datetime,
    via: str = "api",
) -> CreatedToken:
    """Create a token for the caller's account; the caller must be an admin on a paid plan.

    The new token holds no scope and no environment the caller does not hold itself.
    """
    require_token_admin(principal)
    name = checked_name(name, "name")
    unknown = unknown_scopes(scopes)
    if unknown:
        raise Unprocessable(f"Unknown scopes: {', '.join(unknown)}")
    require_scopes_held(principal, scopes)
    require_environments_held(principal, environment_ids)
    account = session.get_one(Account, principal.account_id)
    if account.plan == "starter":
        raise Forbidden(STARTER_PLAN)
    granted = _granted_environments(session, account.id, environment_ids)
    secret = new_token_secret()
    while session.scalars(
        select(ApiToken.id).where(ApiToken.token_hash == hash_token(secret))
    ).first():
        secret = new_token_secret()  # never re-issue a value, even a deleted one's
    token = ApiToken(
        account_id=account.id,
        name=name,
        token_hash=hash_token(secret),
        display_prefix=display_prefix(secret),
        scopes=sorted(dict.fromkeys(scopes)),
        environment_ids=granted,
        created_by=principal.user_id,
        created_at=now,
    )
    session.add(token)
    session.flush()
    record(
        session,
        account_id=account.id,
        actor=actor_for(principal),
        action="token.created",
        entity_type="api_token",
        entity_id=token.id,
        occurred_at=now,
        details={
            "name": name,
            "scopes": token.scopes,
            "environment_ids": granted,
            "via": via,
        },
    )
    session.commit()
    logger.info("API token %s (%s) created in account %s", token.id, name, account.id)
    return CreatedToken(token=token, secret=secret)


def delete_token(
    session: Session, principal: Principal, token_id: str, *, now: datetime, via: str = "api"
) -> None:
    """Soft-delete: the row stays (its digest stays taken); the token stops working at once."""
    require_token_admin(principal)
    token = _live_token(session, principal, token_id)
    token.deleted_at = now
    token.deleted_by = principal.user_id
    token.deletion_reason = "deleted"
    record(
        session,
        account_id=token.account_id,
        actor=actor_for(principal),
        action="token.deleted",
        entity_type="api_token",
        entity_id=token.id,
        details={"name": token.name, "via": via},
        occurred_at=now,
    )
    session.commit()
    logger.info("API token %s deleted in account %s", token.id, token.account_id)


def creators(session: Session, tokens: list[ApiToken]) -> dict[str, User]:
    """The users who created ``tokens``, by id (deleted users are simply absent)."""
    ids = {t.created_by for t in tokens if t.created_by}
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


def set_expiry(
    session: Session, account_id: str, expires_at: datetime | None, *, now: datetime
) -> int:
    """Set (or clear) the expiry of every live, not yet expired token; returns how many.

    Tokens whose expiry has already passed stay expired: an upgrade after the notice period
    does not revive tokens the sweeper simply has not reached yet.
    """
    not_expired = (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > now)
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.account_id == account_id, ApiToken.deleted_at.is_(None), not_expired)
        .values(expires_at=expires_at)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def sweep_expired_tokens(session: Session, now: datetime) -> int:
    """One pass of the sweeper: delete every live token whose expiry has passed.

    Expired tokens already fail authentication; deleting them makes the list show the truth
    and records ``token.expired`` in the audit trail. Returns how many tokens were deleted.
    """
    expired = list(
        session.scalars(
            select(ApiToken).where(
                ApiToken.deleted_at.is_(None),
                ApiToken.expires_at.is_not(None),
                ApiToken.expires_at <= now,
            )
        )
    )
    for token in expired:
        token.deleted_at = now
        token.deletion_reason = "expired"
        record(
            session,
            account_id=token.account_id,
            actor=Actor.system(),
            action="token.expired",
            entity_type="api_token",
            entity_id=token.id,
            details={"name": token.name, "expires_at": _iso(token.expires_at)},
            occurred_at=now,
        )
    session.commit()
    if expired:
        logger.info("deleted %d API tokens whose plan-downgrade notice ended", len(expired))
    return len(expired)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
