"""``GET /api/me`` (legacy API: who the token is) and ``GET /v1/scopes`` (the catalogue).

``rivery-cli`` calls ``/api/me`` in ``RiverySession.connect()`` and keeps ``account_id`` and
``environment_id`` from it for every later call. The scope catalogue is public: it holds no
account data and the console's token form needs it before any token exists.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from headwater.api.deps import SessionDep, public_route, require_scope
from headwater.schemas.me import MeOut, ScopeList, ScopeOut
from headwater.security.scopes import SCOPES
from headwater.services import accounts
from headwater.services.auth import Principal
from headwater.store.models import Account

router = APIRouter()


@router.get("/api/me", tags=["legacy"], summary="Who the caller is: account, environment, scopes")
def me(
    session: SessionDep,
    principal: Principal = Depends(require_scope("me:list")),
) -> MeOut:
    environments = accounts.granted_environments(session, principal)
    account = session.get_one(Account, principal.account_id)
    return MeOut(
        account_id=account.id,
        account_name=account.name,
        environment_id=environments[0].id,
        environment_name=environments[0].name,
        environment_ids=[e.id for e in environments],
        token_id=principal.token_id,
        token_name=principal.token_name,
        user_id=principal.user_id,
        scopes=sorted(principal.scopes),
        plan=account.plan,
    )


@router.get(
    "/v1/scopes",
    tags=["api tokens"],
    dependencies=[Depends(public_route)],
    summary="Every scope a token can carry, with what it allows (public)",
)
def list_scopes() -> ScopeList:
    return ScopeList(items=[ScopeOut(name=n, description=d) for n, d in SCOPES.items()])
