"""Settings → API Tokens: the seed's flow (list, Add Token, Create/Cancel, copy once, Done,
View, delete with confirmation), for account admins only.

Members reach none of it: their console principal lacks ``token:*``, so every route answers
the "admins only" page with 403 before any service runs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from headwater.api.deps import SessionDep
from headwater.errors import HeadwaterError
from headwater.security.scopes import SCOPES
from headwater.services import accounts
from headwater.services import tokens as service
from headwater.web.auth import ConsoleUser, console_action, console_page
from headwater.web.render import account_base, render

router = APIRouter(include_in_schema=False)
BASE = "/console/accounts/{account_id}/settings/api-tokens"
NOTICES = {"deleted": "The token was deleted. It no longer works and cannot be restored."}


def api_base_url(request: Request) -> str:
    """This deployment's API base URL: ``HEADWATER_PUBLIC_URL`` or the URL the browser used."""
    public: str | None = request.app.state.settings.public_url
    return (public or str(request.base_url)).rstrip("/")


def _tokens_url(account_id: str) -> str:
    return f"{account_base(account_id)}/settings/api-tokens"


def _account_context(request: Request, session: Session, user: ConsoleUser) -> dict[str, Any]:
    account = accounts.get_account(session, user.principal, user.account_id)
    now = request.app.state.clock()
    return {
        "account": account,
        "notice_ends": accounts.pending_notice_end(account, now),
        "api_base_url": api_base_url(request),
        "environments": accounts.granted_environments(session, user.principal),
        "tokens_url": _tokens_url(user.account_id),
    }


@router.get(BASE)
def token_list(
    request: Request,
    account_id: str,
    session: SessionDep,
    notice: str = "",
    user: ConsoleUser = Depends(console_page("token:list")),
) -> HTMLResponse:
    found = service.list_tokens(session, user.principal)
    context = _account_context(request, session, user)
    context.update(
        tokens=found,
        creators=service.creators(session, found),
        notice=NOTICES.get(notice, ""),
    )
    return render(request, "tokens.html", context)


def _form(
    request: Request,
    session: Session,
    user: ConsoleUser,
    *,
    name: str = "",
    selected: list[str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    context = _account_context(request, session, user)
    # Only the scopes the signed-in admin holds: nobody grants what they do not have.
    grantable = {n: d for n, d in SCOPES.items() if n in user.principal.scopes}
    context.update(
        scopes=grantable, name=name, selected=set(selected or []), error=error, title="Add Token"
    )
    return render(request, "token_new.html", context, status_code=status_code)


@router.get(f"{BASE}/new")
def token_new(
    request: Request,
    account_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_page("token:edit")),
) -> HTMLResponse:
    return _form(request, session, user)


@router.post(BASE)
def token_create(
    request: Request,
    account_id: str,
    session: SessionDep,
    name: str = Form(""),
    scopes: list[str] = Form([]),
    user: ConsoleUser = Depends(console_action("token:edit")),
) -> HTMLResponse:
    """Create and show the secret once; the response is never cached (``no-store``)."""
    cleaned = name.strip()
    error = ""
    if not cleaned:
        error = "Give the token a name that says what uses it, e.g. “nightly export”."
    elif len(cleaned) > 200:
        error = "The name is too long; use at most 200 characters."
    elif not scopes:
        error = "Select at least one scope: a token without scopes cannot call anything."
    if error:
        return _form(
            request, session, user, name=name, selected=scopes, error=error, status_code=422
        )
    try:
        created = service.create_token(
            session,
            user.principal,
            name=cleaned,
            scopes=scopes,
            environment_ids=None,
            now=request.app.state.clock(),
            via="console",
        )
    except HeadwaterError as exc:
        session.rollback()
        return _form(
            request,
            session,
            user,
            name=name,
            selected=scopes,
            error=exc.message,
            status_code=exc.status_code,
        )
    context = _account_context(request, session, user)
    context.update(token=created.token, secret=created.secret)
    return render(request, "token_created.html", context, status_code=201)


@router.get(f"{BASE}/{{token_id}}")
def token_view(
    request: Request,
    account_id: str,
    token_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_page("token:list")),
) -> HTMLResponse:
    token = service.get_token(session, user.principal, token_id)
    context = _account_context(request, session, user)
    context.update(
        token=token,
        creator=service.creators(session, [token]).get(token.created_by or ""),
        scopes=SCOPES,
    )
    return render(request, "token_view.html", context)


@router.post(f"{BASE}/{{token_id}}/delete")
def token_delete(
    request: Request,
    account_id: str,
    token_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("token:edit")),
) -> RedirectResponse:
    service.delete_token(
        session, user.principal, token_id, now=request.app.state.clock(), via="console"
    )
    return RedirectResponse(f"{_tokens_url(account_id)}?notice=deleted", status_code=303)
