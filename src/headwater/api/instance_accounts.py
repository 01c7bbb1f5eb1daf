"""``/v1/instance/accounts``: instance admins create, list, view, rename, re-plan and disable
accounts (tenants) across the installation.

The path parameter is ``tenant_id``, not ``account_id``: ``require_scope`` pins
``account_id`` to the caller's own account, and these routes act on any account. The scope
``instance:admin`` is effective only for instance admins (see ``services.auth``); an account
admin, even one holding every other scope, gets 403.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, status
from sqlalchemy.orm import Session

from headwater.api.deps import ClockDep, SessionDep, SettingsDep, require_scope
from headwater.api.responses import errors
from headwater.schemas.instance import (
    InstanceAccountCreate,
    InstanceAccountCreated,
    InstanceAccountList,
    InstanceAccountOut,
    InstanceAccountUpdate,
)
from headwater.services import instance_accounts as service
from headwater.services.auth import Principal
from headwater.store.models import Account

router = APIRouter(prefix="/v1/instance/accounts", tags=["instance"])


def account_out(session: Session, account: Account) -> InstanceAccountOut:
    facts = service.facts(session, account)
    return InstanceAccountOut(
        id=account.id,
        name=account.name,
        plan=account.plan,
        created_at=account.created_at,
        disabled=account.disabled_at is not None,
        disabled_at=account.disabled_at,
        default_environment_id=facts.default_environment_id,
        users=facts.users,
        admin_emails=facts.admin_emails,
    )


@router.get("", summary="Every account of the installation (instance admins only)")
def list_accounts(
    session: SessionDep,
    principal: Principal = Depends(require_scope("instance:admin")),
) -> InstanceAccountList:
    found = service.list_accounts(session, principal)
    return InstanceAccountList(items=[account_out(session, a) for a in found])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an account with its default environment and admin (instance admins only)",
    responses=errors(400, 409),
)
def create_account(
    body: InstanceAccountCreate,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("instance:admin")),
) -> InstanceAccountCreated:
    tenant = service.create_account(
        session,
        principal,
        name=body.name,
        admin_email=body.admin_email,
        admin_password=body.admin_password,
        plan=body.plan,
        now=clock(),
    )
    shown = account_out(session, tenant.account)
    return InstanceAccountCreated(
        **shown.model_dump(),
        admin_id=tenant.admin.id,
        generated_password=tenant.generated_password,
    )


@router.get("/{tenant_id}", summary="One account (instance admins only)")
def get_account(
    tenant_id: str,
    session: SessionDep,
    principal: Principal = Depends(require_scope("instance:admin")),
) -> InstanceAccountOut:
    return account_out(session, service.get_account(session, principal, tenant_id))


@router.patch(
    "/{tenant_id}",
    summary="Rename an account, change its plan, disable or enable it (instance admins only)",
    responses=errors(400, 409),
)
def update_account(
    tenant_id: str,
    body: InstanceAccountUpdate,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    principal: Principal = Depends(require_scope("instance:admin")),
) -> InstanceAccountOut:
    account = service.update_account(
        session,
        principal,
        tenant_id,
        now=clock(),
        notice_days=settings.plan_downgrade_notice_days,
        name=body.name,
        plan=body.plan,
        disabled=body.disabled,
    )
    return account_out(session, account)
