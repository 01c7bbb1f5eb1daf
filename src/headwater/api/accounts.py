"""``/v1/accounts/{account_id}``: the account with its plan history, and plan changes."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from headwater.api.deps import ClockDep, SessionDep, SettingsDep, require_scope
from headwater.schemas.accounts import AccountOut, PendingDowngrade, PlanChangeOut, PlanUpdate
from headwater.services import accounts as service
from headwater.services.auth import Principal
from headwater.store.models import Account

router = APIRouter(prefix="/v1/accounts/{account_id}", tags=["accounts"])


def account_out(session: Session, account: Account, clock: ClockDep) -> AccountOut:
    ends = service.pending_notice_end(account, clock())
    pending = (
        None
        if ends is None
        else PendingDowngrade(
            tokens_expire_at=ends, tokens_affected=service.live_token_count(session, account.id)
        )
    )
    return AccountOut(
        id=account.id,
        name=account.name,
        plan=account.plan,
        plan_changed_at=account.plan_changed_at,
        created_at=account.created_at,
        plan_history=[
            PlanChangeOut.model_validate(change, from_attributes=True)
            for change in account.plan_changes
        ],
        pending_downgrade=pending,
    )


@router.get("", summary="The account: plan, plan history and any pending downgrade")
def get_account(
    account_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("account:list")),
) -> AccountOut:
    return account_out(session, service.get_account(session, principal, account_id), clock)


@router.put("/plan", summary="Change the account's plan (admins only)")
def change_plan(
    account_id: str,
    body: PlanUpdate,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    principal: Principal = Depends(require_scope("account:write")),
) -> AccountOut:
    account = service.change_plan(
        session,
        principal,
        account_id,
        body.plan,
        now=clock(),
        notice_days=settings.plan_downgrade_notice_days,
    )
    return account_out(session, account, clock)
