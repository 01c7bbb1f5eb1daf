"""Request dependencies: settings, DB session, clock, and scope-checked principals.

Every route declares either ``require_scope("entity:operation")`` or ``public_route``; a test
walks the route table and fails on any route that declares neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from headwater.errors import NotAuthenticated
from headwater.security.ratelimit import RateLimiter
from headwater.services.auth import (
    Clock,
    Principal,
    authenticate_token,
    check_account,
    check_environment,
    check_scope,
)
from headwater.settings import Settings

ConsoleAuthenticator = Callable[[Request, Session], Principal | None]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.close()


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]


def bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise NotAuthenticated()
    return value.strip()


def resolve_principal(request: Request, session: Session) -> Principal:
    """The caller, from the bearer token or (for the console) the login session."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    secret = bearer_secret(request)
    principal: Principal | None
    if secret is not None:
        principal = authenticate_token(session, secret, now=request.app.state.clock)
        limiter: RateLimiter = request.app.state.rate_limiter
        limiter.hit(f"token:{principal.token_id}")
    else:
        console: ConsoleAuthenticator | None = getattr(
            request.app.state, "console_authenticator", None
        )
        principal = console(request, session) if console is not None else None
        if principal is None:
            raise NotAuthenticated()
    request.state.principal = principal
    return principal


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that authenticates, checks ``scope`` and the account/environment in the path."""

    def dependency(request: Request, session: SessionDep) -> Principal:
        principal = resolve_principal(request, session)
        path: dict[str, Any] = request.path_params
        if "account_id" in path:
            check_account(principal, str(path["account_id"]))
        check_scope(principal, scope)
        if "environment_id" in path:
            check_environment(session, principal, str(path["environment_id"]))
        return principal

    dependency.required_scope = scope  # type: ignore[attr-defined]
    dependency.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return dependency


def public_route() -> None:
    """Marks a route that needs no credentials (health, docs, login page)."""


public_route.is_public = True  # type: ignore[attr-defined]
