"""Login, logout and the console's entry points (``/`` and ``/console``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from headwater.api.deps import SessionDep, public_route
from headwater.security.passwords import hash_password, verify_password
from headwater.store.models import Account, User
from headwater.web import auth
from headwater.web.auth import ConsoleUser, console_action
from headwater.web.render import PREFIX, home_url, render

router = APIRouter(include_in_schema=False)

WRONG_LOGIN = "The e-mail or password is not right. Check both and try again."
TOO_MANY = (
    "Too many failed sign-ins for this e-mail from your address. Wait {minutes} minutes, "
    "or ask an admin to reset your password."
)
DISABLED = (
    "Your account is disabled. Ask the administrator of this Headwater installation to "
    "enable it again."
)
_DUMMY_HASH = hash_password("headwater-timing-equaliser")


def _safe_next(target: str | None) -> str | None:
    """Only console paths: never another host (``//evil``) or a scheme."""
    if not target or not target.startswith(PREFIX + "/") or target.startswith("//"):
        return None
    return None if "\\" in target or "://" in target else target


def _login_form(
    request: Request,
    *,
    email: str = "",
    error: str = "",
    notice: str = "",
    next_url: str = "",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    nonce, token = auth.login_csrf_pair(request)
    response = render(
        request,
        "login.html",
        {
            "email": email,
            "error": error,
            "notice": notice,
            "next_url": next_url,
            "login_token": token,
        },
        status_code=status_code,
        headers=headers,
    )
    options = auth.cookie_options(request)
    options["path"] = f"{PREFIX}/login"
    response.set_cookie(auth.LOGIN_COOKIE, nonce, max_age=3600, **options)
    return response


@router.get("/", dependencies=[Depends(public_route)])
def root() -> RedirectResponse:
    """The deployment's home is the console."""
    return RedirectResponse(PREFIX, status_code=307)


@router.get(PREFIX, dependencies=[Depends(public_route)])
def console_home(request: Request, session: SessionDep) -> RedirectResponse:
    user = auth.load_console_user(request, session)
    target = home_url(user) if user is not None else f"{PREFIX}/login"
    return RedirectResponse(target, status_code=303)


@router.get(f"{PREFIX}/login", dependencies=[Depends(public_route)])
def login_page(request: Request, session: SessionDep, next: str = "", out: str = "") -> Response:
    user = auth.load_console_user(request, session)
    if user is not None:
        return RedirectResponse(_safe_next(next) or home_url(user), status_code=303)
    notice = "You are signed out." if out else ""
    return _login_form(request, notice=notice, next_url=_safe_next(next) or "")


@router.post(f"{PREFIX}/login", dependencies=[Depends(public_route)])
def login(
    request: Request,
    session: SessionDep,
    email: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    """Claim an attempt from the throttle, then check the password; attempts count per e-mail
    and client address (``auth.client_address``), and a success clears them."""
    next_url = _safe_next(next) or ""
    if not auth.login_csrf_ok(request, csrf_token):
        return _login_form(
            request, email=email, error=auth.CSRF_MESSAGE, next_url=next_url, status_code=403
        )
    now = request.app.state.clock()
    key = auth.throttle_key(request, email)
    if not auth.claim_attempt(session, key, now):
        wait = auth.retry_after(session, key, now)
        return _login_form(
            request,
            email=email,
            error=TOO_MANY.format(minutes=max(1, round(wait / 60))),
            next_url=next_url,
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    address = auth.login_address(email)
    user = session.scalars(select(User).where(User.email == address)).first() if address else None
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.is_active:  # the claimed attempt stays counted
        return _login_form(
            request, email=email, error=WRONG_LOGIN, next_url=next_url, status_code=401
        )
    auth.clear_failures(session, key)
    if session.get_one(Account, user.account_id).disabled_at is not None:
        return _login_form(request, email=email, error=DISABLED, next_url=next_url, status_code=403)
    secret, expires = auth.start_session(request, session, user)
    request.state.console_user = None
    target = next_url or f"{PREFIX}"
    response = RedirectResponse(target, status_code=303)
    max_age = int((expires - now).total_seconds())
    response.set_cookie(
        auth.SESSION_COOKIE, secret, max_age=max_age, **auth.cookie_options(request)
    )
    options = auth.cookie_options(request)
    options["path"] = f"{PREFIX}/login"
    response.delete_cookie(auth.LOGIN_COOKIE, **options)
    return response


@router.post(f"{PREFIX}/logout")
def logout(
    request: Request,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("me:list")),
) -> RedirectResponse:
    """Delete the session row: the cookie stops working everywhere at once."""
    auth.end_session(session, user.session_id)
    response = RedirectResponse(f"{PREFIX}/login?out=1", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, **auth.cookie_options(request))
    return response
