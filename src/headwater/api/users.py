"""``/v1/accounts/{account_id}/users``: admins list, create, re-role and delete users."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response, status

from headwater.api.deps import ClockDep, SessionDep, require_scope
from headwater.api.responses import errors
from headwater.schemas.users import UserCreate, UserCreated, UserList, UserOut, UserUpdate
from headwater.services import users as service
from headwater.services.auth import Principal
from headwater.store.models import User

router = APIRouter(prefix="/v1/accounts/{account_id}/users", tags=["users"])


def user_out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


@router.get("", summary="List the account's users and their roles (admins only)")
def list_users(
    account_id: str,
    session: SessionDep,
    principal: Principal = Depends(require_scope("user:list")),
) -> UserList:
    return UserList(items=[user_out(u) for u in service.list_users(session, principal)])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a user (admins only)",
    responses=errors(400, 409),
)
def create_user(
    account_id: str,
    body: UserCreate,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("user:edit")),
) -> UserCreated:
    created = service.create_user(
        session,
        principal,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        now=clock(),
    )
    return UserCreated(
        **user_out(created.user).model_dump(), generated_password=created.generated_password
    )


@router.get("/{user_id}", summary="View one user (admins only)")
def get_user(
    account_id: str,
    user_id: str,
    session: SessionDep,
    principal: Principal = Depends(require_scope("user:list")),
) -> UserOut:
    return user_out(service.get_user(session, principal, user_id))


@router.patch(
    "/{user_id}",
    summary="Change a user's role or name (admins only)",
    responses=errors(400, 409),
)
def update_user(
    account_id: str,
    user_id: str,
    body: UserUpdate,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("user:edit")),
) -> UserOut:
    user = service.update_user(
        session, principal, user_id, now=clock(), role=body.role, name=body.name
    )
    return user_out(user)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a user (admins only)",
    responses=errors(409),
)
def delete_user(
    account_id: str,
    user_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Principal = Depends(require_scope("user:edit")),
) -> Response:
    service.delete_user(session, principal, user_id, now=clock())
    return Response(status_code=status.HTTP_204_NO_CONTENT)
