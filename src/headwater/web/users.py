"""Settings → Users (admins only): list, create (a generated password is shown once), role."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from headwater.api.deps import SessionDep
from headwater.errors import Forbidden, HeadwaterError
from headwater.services import users as service
from headwater.store.models.accounts import ROLES
from headwater.web.auth import ConsoleUser, console_action, console_page
from headwater.web.render import account_base, render

router = APIRouter(include_in_schema=False)
BASE = "/console/accounts/{account_id}/settings/users"
NOTICES = {"role": "The role was changed; it applies from the user's next click."}


def _admin(user: ConsoleUser) -> None:
    """Members hold ``user:list`` (the API lets them read users); this page is admins' only."""
    if not user.is_admin:
        raise Forbidden(
            "This page is for account admins only. You are signed in as a member; ask an admin "
            "of this account to add users or change roles."
        )


def _page(
    request: Request,
    session: Session,
    user: ConsoleUser,
    *,
    notice: str = "",
    error: str = "",
    created: service.CreatedUser | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "title": "Users",
        "users": service.list_users(session, user.principal),
        "roles": ROLES,
        "notice": notice,
        "error": error,
        "created": created,
        "form": form or {"email": "", "name": "", "role": "member"},
        "users_url": f"{account_base(user.account_id)}/settings/users",
    }
    return render(request, "users.html", context, status_code=status_code)


@router.get(BASE)
def user_list(
    request: Request,
    account_id: str,
    session: SessionDep,
    notice: str = "",
    user: ConsoleUser = Depends(console_page("user:list")),
) -> HTMLResponse:
    _admin(user)
    return _page(request, session, user, notice=NOTICES.get(notice, ""))


@router.post(BASE)
def user_create(
    request: Request,
    account_id: str,
    session: SessionDep,
    email: str = Form(""),
    name: str = Form(""),
    role: str = Form("member"),
    password: str = Form(""),
    user: ConsoleUser = Depends(console_action("user:edit")),
) -> HTMLResponse:
    form = {"email": email, "name": name, "role": role}
    if password and len(password) < 8:
        return _page(
            request,
            session,
            user,
            error="Choose a password of at least 8 characters, or leave it empty to generate one.",
            form=form,
            status_code=422,
        )
    try:
        created = service.create_user(
            session,
            user.principal,
            email=email,
            name=name.strip(),
            role=role,
            password=password or None,
            now=request.app.state.clock(),
            via="console",
        )
    except HeadwaterError as exc:
        session.rollback()
        return _page(
            request, session, user, error=exc.message, form=form, status_code=exc.status_code
        )
    return _page(request, session, user, created=created, status_code=201)


@router.post(f"{BASE}/{{user_id}}/role")
def user_role(
    request: Request,
    account_id: str,
    user_id: str,
    session: SessionDep,
    role: str = Form(...),
    user: ConsoleUser = Depends(console_action("user:edit")),
) -> Response:
    try:
        service.update_user(
            session, user.principal, user_id, now=request.app.state.clock(), role=role
        )
    except HeadwaterError as exc:
        session.rollback()
        return _page(request, session, user, error=exc.message, status_code=exc.status_code)
    url = f"{account_base(account_id)}/settings/users?notice=role"
    return RedirectResponse(url, status_code=303)
