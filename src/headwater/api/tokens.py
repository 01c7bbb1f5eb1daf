"""``/v1/accounts/{account_id}/api_tokens``: admins list, create, view and delete tokens.

Callers need the scope (``token:list`` to read, ``token:edit`` to change) and admin power: an
admin's console session, or a token whose creator is still an admin of the account.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status
from sqlalchemy.orm import Session

from headwater.api.deps import ClockDep, SessionDep, require_scope
from headwater.schemas.tokens import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenList,
    ApiTokenOut,
    TokenCreator,
)
from headwater.services import tokens as service
from headwater.services.auth import Principal
from headwater.store.models import ApiToken, User

router = APIRouter(prefix="/v1/accounts/{account_id}/api_tokens", tags=["api tokens"])


def token_out(token: ApiToken, creators: dict[str, User]) -> ApiTokenOut:
    creator = creators.get(token.created_by or "")
    return ApiTokenOut(
        id=token.id,
        name=token.name,
        scopes=[str(s) for s in token.scopes],
        environment_ids=None
        if token.environment_ids is None
        else [str(e) for e in token.environment_ids],
        display_prefix=token.display_prefix,
        created_at=token.created_at,
        created_by=token.created_by,
        creator=None
        if creator is None
        else TokenCreator(user_id=creator.id, email=creator.email, name=creator.name),
        last_used_at=token.last_used_at,
        expires_at=token.expires_at,
    )


def _one(session: Session, token: ApiToken) -> ApiTokenOut:
    return token_out(token, service.creators(session, [token]))


@router.get("", summary="List the account's API tokens (admins only)")
def list_tokens(
    account_id: str,
    session: SessionDep,
    principal: Principal = Depends(require_scope("token:list")),
) -> ApiTokenList:
    tokens = service.list_tokens(session, principal)
    creators = service.creators(session, tokens)
    return ApiTokenList(items=[token_out(t, creators) for t in tokens])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token; the response is the only place its secret appears",
)
def create_token(
    account_id: str,
    body: ApiTokenCreate,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("token:edit")),
) -> ApiTokenCreated:
    created = service.create_token(
        session,
        principal,
        name=body.name,
        scopes=body.scopes,
        environment_ids=body.environment_ids,
        now=clock(),
    )
    shown = _one(session, created.token)
    return ApiTokenCreated(**shown.model_dump(), token=created.secret)


@router.get("/{token_id}", summary="View one API token: its scopes, never its secret")
def get_token(
    account_id: str,
    token_id: str,
    session: SessionDep,
    principal: Principal = Depends(require_scope("token:list")),
) -> ApiTokenOut:
    return _one(session, service.get_token(session, principal, token_id))


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an API token for good; it stops working at once",
)
def delete_token(
    account_id: str,
    token_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("token:edit")),
) -> Response:
    service.delete_token(session, principal, token_id, now=clock())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
