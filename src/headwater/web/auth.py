"""Console login: server-side sessions, CSRF tokens, the login throttle and page dependencies.

The session cookie carries only a random secret; the row it points to (looked up by a keyed
digest, so a leaked database does not yield usable cookies) holds the user and the session's
CSRF token. Every request re-reads the user, so a role change or a removed user takes effect
at the next click, and logout deletes the row so a copied cookie is dead at once.

Console routes declare ``console_page(scope)`` (GET) or ``console_action(scope)`` (POST: also
checks the CSRF token); both carry ``required_scope`` like ``require_scope`` so the route-table
test sees them. Members get every scope except token and user management and plan changes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from headwater.api.deps import SessionDep
from headwater.errors import Forbidden
from headwater.security.scopes import ALL_SCOPES
from headwater.services.auth import Principal, check_account, check_environment
from headwater.store.models import ConsoleLoginFailure, ConsoleSession, Environment, User

SESSION_COOKIE = "hw_console"
LOGIN_COOKIE = "hw_login"
SESSION_LIFETIME = timedelta(hours=12)
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
THROTTLE_LIMIT = 5
THROTTLE_WINDOW = timedelta(minutes=15)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ADMIN_ONLY_SCOPES = frozenset(
    {"token:list", "token:edit", "user:edit", "account:write", "river:code"}
)
MEMBER_SCOPES = ALL_SCOPES - ADMIN_ONLY_SCOPES
CSRF_MESSAGE = (
    "This form has expired or did not come from this console (missing or wrong CSRF token). "
    "Reload the page and submit it again."
)


class LoginRequired(Exception):
    """No valid console session: pages redirect to the login form, JSON endpoints answer 401."""


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in user of one console request."""

    principal: Principal
    user_id: str
    email: str
    name: str
    role: str
    csrf_token: str
    session_id: str
    default_environment_id: str

    @property
    def account_id(self) -> str:
        return self.principal.account_id

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


def console_principal(user: User) -> Principal:
    """Admins hold every scope; members hold every scope but managing tokens, users and plan."""
    is_admin = user.is_active and user.role == "admin"
    return Principal(
        account_id=user.account_id,
        scopes=ALL_SCOPES if is_admin else MEMBER_SCOPES,
        kind="user",
        user_id=user.id,
        is_admin=is_admin,
    )


def _key(request: Request) -> bytes:
    """A key for cookie digests, derived from the deployment's secret key (cached per app)."""
    cached: bytes | None = getattr(request.app.state, "console_key", None)
    if cached is None:
        secret = request.app.state.settings.resolved_secret_key().encode("utf-8")
        cached = hmac.new(secret, b"headwater console sessions v1", hashlib.sha256).digest()
        request.app.state.console_key = cached
    return cached


def digest(request: Request, value: str) -> str:
    return hmac.new(_key(request), value.encode("utf-8"), hashlib.sha256).hexdigest()


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def _default_environment(session: Session, account_id: str) -> str:
    return str(
        session.scalars(
            select(Environment.id)
            .where(Environment.account_id == account_id)
            .order_by(Environment.is_default.desc(), Environment.created_at, Environment.id)
        ).first()
        or ""
    )


def load_console_user(request: Request, session: Session) -> ConsoleUser | None:
    """The user of the request's session cookie, or None when it is missing, expired or ended."""
    cached: ConsoleUser | None = getattr(request.state, "console_user", None)
    if cached is not None:
        return cached
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret or len(secret) > 128:
        return None
    row = session.scalars(
        select(ConsoleSession).where(ConsoleSession.secret_hash == digest(request, secret))
    ).first()
    now = _now(request)
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
        row.last_seen_at = now
        session.commit()
    found = ConsoleUser(
        principal=console_principal(user),
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        csrf_token=row.csrf_token,
        session_id=row.id,
        default_environment_id=_default_environment(session, user.account_id),
    )
    request.state.console_user = found
    return found


def console_authenticator(request: Request, session: Session) -> Principal | None:
    """The API's fallback when there is no bearer token: the console session.

    Unsafe methods also need the session's CSRF token in ``X-CSRF-Token``, so a page on another
    site can never make the API act through a signed-in browser.
    """
    user = load_console_user(request, session)
    if user is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent, user.csrf_token):
            return None
    return user.principal


def start_session(request: Request, session: Session, user: User) -> tuple[str, datetime]:
    """A new session row for ``user``; returns the cookie secret and its expiry."""
    secret = secrets.token_urlsafe(32)
    now = _now(request)
    expires = now + SESSION_LIFETIME
    session.add(
        ConsoleSession(
            user_id=user.id,
            secret_hash=digest(request, secret),
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
        )
    )
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    session.commit()
    return secret, expires


def end_session(session: Session, session_id: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))
    session.commit()


def cookie_options(request: Request) -> dict[str, Any]:
    """HttpOnly, SameSite=Lax, and Secure whenever the browser reached us over https."""
    return {
        "httponly": True,
        "samesite": "lax",
        "secure": request.url.scheme == "https",
        "path": "/",
    }


# -- login CSRF (no session exists yet: a signed double-submit cookie) -------------------------


def login_csrf_pair(request: Request) -> tuple[str, str]:
    """(cookie value, form value) for the login form; the form value is the cookie's digest."""
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if not (16 <= len(nonce) <= 64):
        nonce = secrets.token_urlsafe(24)
    return nonce, digest(request, "login:" + nonce)


def login_csrf_ok(request: Request, sent: str) -> bool:
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if not nonce:
        return False
    return hmac.compare_digest(sent, digest(request, "login:" + nonce))


# -- throttle -----------------------------------------------------------------------------------


def throttle_key(request: Request, email: str) -> str:
    address = request.client.host if request.client else "unknown"
    return digest(request, f"throttle:{email.strip().lower()}|{address}")


def failures(session: Session, key: str, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ConsoleLoginFailure)
            .where(
                ConsoleLoginFailure.key_hash == key,
                ConsoleLoginFailure.failed_at > now - THROTTLE_WINDOW,
            )
        )
        or 0
    )


def retry_after(session: Session, key: str, now: datetime) -> int:
    """Seconds until the oldest counted failure leaves the window."""
    oldest = session.scalar(
        select(func.min(ConsoleLoginFailure.failed_at)).where(
            ConsoleLoginFailure.key_hash == key,
            ConsoleLoginFailure.failed_at > now - THROTTLE_WINDOW,
        )
    )
    if oldest is None:
        return 1
    if oldest.tzinfo is None:  # SQLite aggregates bypass the UTC column type
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(1, int((oldest + THROTTLE_WINDOW - now).total_seconds()) + 1)


def record_failure(session: Session, key: str, now: datetime) -> None:
    session.execute(
        delete(ConsoleLoginFailure).where(ConsoleLoginFailure.failed_at <= now - THROTTLE_WINDOW)
    )
    session.add(ConsoleLoginFailure(key_hash=key, failed_at=now))
    session.commit()


def clear_failures(session: Session, key: str) -> None:
    session.execute(delete(ConsoleLoginFailure).where(ConsoleLoginFailure.key_hash == key))
    session.commit()


# -- route dependencies -------------------------------------------------------------------------


def _denied(scope: str, user: ConsoleUser) -> str:
    if scope in ADMIN_ONLY_SCOPES and not user.is_admin:
        return (
            "This page is for account admins only. You are signed in as a member; ask an admin "
            "of this account to do this for you or to make you an admin."
        )
    return f"Your role does not allow this page (it needs the scope '{scope}')."


def console_page(scope: str) -> Callable[..., ConsoleUser]:
    """A console page: a valid session, the account and environment in the path, the scope."""

    def dependency(request: Request, session: SessionDep) -> ConsoleUser:
        user = load_console_user(request, session)
        if user is None:
            raise LoginRequired()
        path: dict[str, Any] = request.path_params
        if "account_id" in path:
            check_account(user.principal, str(path["account_id"]))
        if scope not in user.principal.scopes:
            raise Forbidden(_denied(scope, user))
        if "environment_id" in path:
            check_environment(session, user.principal, str(path["environment_id"]))
        return user

    dependency.required_scope = scope  # type: ignore[attr-defined]
    dependency.__name__ = f"console_page_{scope.replace(':', '_')}"
    return dependency


def console_action(scope: str) -> Callable[..., Awaitable[ConsoleUser]]:
    """A console form post: everything ``console_page`` checks plus the session's CSRF token."""
    page = console_page(scope)

    async def dependency(request: Request, user: ConsoleUser = Depends(page)) -> ConsoleUser:
        form = await request.form()
        sent = form.get("csrf_token")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, user.csrf_token):
            raise Forbidden(CSRF_MESSAGE)
        return user

    dependency.checks_csrf = True  # type: ignore[attr-defined]
    dependency.__name__ = f"console_action_{scope.replace(':', '_')}"
    return dependency


async def form_data(request: Request) -> FormData:
    """The posted form (parsed once; ``console_action`` already read it for the CSRF check)."""
    return await request.form()
