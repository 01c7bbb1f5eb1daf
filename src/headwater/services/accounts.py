"""The account and its plan: plan changes, and the token notice period of a downgrade.

Moving from a paid plan (``pro``, ``enterprise``) to ``starter`` does not cut API access at
once: every live token gets ``expires_at`` = now + the notice period, keeps working until then,
and the sweeper deletes it afterwards. Moving back to a paid plan before that cancels the expiry.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headwater.errors import Forbidden, InvalidInput, NotFound
from headwater.services.audit import Actor, record
from headwater.services.auth import Principal, actor_for
from headwater.services.grants import require_unlimited
from headwater.services.tokens import set_expiry
from headwater.store.models import Account, ApiToken, Environment, PlanChange
from headwater.store.models.accounts import PLANS

logger = logging.getLogger(__name__)

FREE_PLAN = "starter"
ADMINS_ONLY = "Only account admins can change the plan"


def get_account(session: Session, principal: Principal, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None or account.id != principal.account_id:
        raise NotFound(f"Account {account_id} was not found")
    return account


def pending_notice_end(account: Account, now: datetime) -> datetime | None:
    """When the tokens of a downgraded account stop working, while that is still ahead."""
    ends = account.plan_notice_ends_at
    if account.plan == FREE_PLAN and ends is not None and ends > now:
        return ends
    return None


def change_plan(
    session: Session,
    principal: Principal,
    account_id: str,
    plan: str,
    *,
    now: datetime,
    notice_days: int,
) -> Account:
    """Change the plan (admins of every environment only); a no-op when it is already ``plan``."""
    if not principal.is_admin:
        raise Forbidden(ADMINS_ONLY)
    require_unlimited(principal, "changing the plan")
    account = get_account(session, principal, account_id)
    return apply_plan(
        session,
        account,
        plan,
        actor=actor_for(principal),
        changed_by=principal.user_id,
        now=now,
        notice_days=notice_days,
    )


def apply_plan(
    session: Session,
    account: Account,
    plan: str,
    *,
    actor: Actor,
    changed_by: str | None,
    now: datetime,
    notice_days: int,
) -> Account:
    """Move ``account`` to ``plan`` (history, audit, token notice); the caller was checked."""
    if plan not in PLANS:  # the request schema already restricts it; the CLI relies on this
        raise InvalidInput(f"Unknown plan {plan!r}; choose one of {', '.join(PLANS)}")
    previous = account.plan
    if plan == previous:
        return account
    details: dict[str, object] = {"from_plan": previous, "to_plan": plan}
    if plan == FREE_PLAN:
        ends = now + timedelta(days=notice_days)
        account.plan_notice_ends_at = ends
        details["tokens_expire_at"] = ends.isoformat()
        details["tokens_expiring"] = set_expiry(session, account.id, ends, now=now)
    elif previous == FREE_PLAN:
        if account.plan_notice_ends_at is not None:
            details["expiry_cancelled_tokens"] = set_expiry(session, account.id, None, now=now)
        account.plan_notice_ends_at = None
    account.plan = plan
    account.plan_changed_at = now
    session.add(
        PlanChange(
            account_id=account.id,
            from_plan=previous,
            to_plan=plan,
            changed_by=changed_by,
            changed_at=now,
        )
    )
    record(
        session,
        account_id=account.id,
        actor=actor,
        action="plan.changed",
        entity_type="account",
        entity_id=account.id,
        details=details,
        occurred_at=now,
    )
    session.commit()
    session.refresh(account)
    logger.info("account %s moved from plan %s to %s", account.id, previous, plan)
    return account


def granted_environments(session: Session, principal: Principal) -> list[Environment]:
    """The environments the caller may use, the account's default one first."""
    environments = session.scalars(
        select(Environment)
        .where(Environment.account_id == principal.account_id)
        .order_by(Environment.is_default.desc(), Environment.created_at, Environment.id)
    ).all()
    granted = [e for e in environments if principal.may_use_environment(e.id)]
    if not granted:
        raise Forbidden("This token is not granted any environment")
    return granted


def live_token_count(session: Session, account_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ApiToken)
            .where(ApiToken.account_id == account_id, ApiToken.deleted_at.is_(None))
        )
        or 0
    )
