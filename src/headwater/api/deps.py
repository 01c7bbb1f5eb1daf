"""Request dependencies: settings, DB session, clock, and scope-checked principals.

Every route declares either ``require_scope("entity:operation")`` or ``public_route``; a test
walks the route table and fails on any route that declares neither.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from headwater.api.admission import Admission
from headwater.errors import HeadwaterError, NotAuthenticated
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
T = TypeVar("T")


# The dependencies that do no I/O are ``async``: FastAPI runs a sync dependency in its thread
# pool, and each hand-off to a worker thread and back costs more CPU (under load, a contended
# GIL and queue) than the work itself. ``bench/api_cost.py`` measures the difference.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session for the request. Making one does no I/O (it connects on first use, in the
    route's worker thread); closing it returns the connection to the pool, which may roll back
    on the server, so that runs in a thread: one hand-off instead of two. The request first
    waits for a database slot (:mod:`headwater.api.admission`).

    The close has a limiter of its own, not the shared thread pool's: requests holding every
    pool thread while they wait for a database connection would otherwise wait forever for the
    closes that give connections back (FastAPI exits its own context managers the same way).
    """
    admission: Admission = request.app.state.db_admission
    async with admission.slot():
        session: Session = request.app.state.session_factory()
        try:
            yield session
        finally:
            if session.in_transaction():
                await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))
            else:  # never used: nothing to roll back or give back, no I/O
                session.close()


async def get_clock(request: Request) -> Clock:
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
        environment_id = request.path_params.get("environment_id")
        principal = authenticate_token(
            session,
            secret,
            now=request.app.state.clock,
            environment_id=None if environment_id is None else str(environment_id),
        )
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


def authorize(request: Request, session: Session, scope: str) -> Principal:
    """The caller, checked for ``scope`` and for the account and environment in the path."""
    principal = resolve_principal(request, session)
    path: dict[str, Any] = request.path_params
    if "account_id" in path:
        check_account(principal, str(path["account_id"]))
    check_scope(principal, scope)
    if "environment_id" in path:
        check_environment(session, principal, str(path["environment_id"]))
    return principal


def require_scope(scope: str) -> Callable[..., Principal]:
    """A dependency that authenticates, checks ``scope`` and the account/environment in the path."""

    def dependency(request: Request, session: SessionDep) -> Principal:
        return authorize(request, session, scope)

    dependency.required_scope = scope  # type: ignore[attr-defined]
    dependency.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return dependency


class ScopedSession:
    """The scope check, a route's database work and the session's close, in one worker thread.

    For the most frequent requests (status polls, triggers, Activities), declared ``async``.
    ``require_scope`` is a sync dependency: FastAPI hands it to its thread pool, then a sync
    route (or ``get_session``'s close) hands off again, each hand-off resuming the request
    through every middleware under a contended GIL. Here the token check runs in the same
    thread as the route's reads, so a request makes one hand-off, and it holds its admission
    slot (:mod:`headwater.api.admission`) only while it uses the database.

    The route gets a session only through :meth:`run`, after the check: a route that forgot
    to call it would have no data to show.
    """

    def __init__(self, request: Request, scope: str) -> None:
        self._request = request
        self._scope = scope

    async def run(self, work: Callable[[Session, Principal], T]) -> T:
        """``work(session, principal)`` once the caller holds the scope; it must return plain
        data (pydantic models), not ORM objects that could lazy-load once the session is closed.
        """
        state = self._request.app.state
        admission: Admission = state.db_admission
        async with admission.slot():
            session: Session = state.session_factory()

            def checked_work() -> T:
                try:
                    return work(session, authorize(self._request, session, self._scope))
                finally:
                    session.close()

            return await anyio.to_thread.run_sync(checked_work)

    async def refusal(self) -> HeadwaterError | None:
        """Why the caller may not use the route (401, 403, 404, 429), or ``None``.

        FastAPI validates the query and the body before the route runs, so a request whose
        parameters are invalid never reaches :meth:`run`: the 422 handler asks this first, and
        a caller without the scope learns no more than with ``require_scope`` (its 403 first).
        """
        try:
            await self.run(lambda _session, _principal: None)
        except HeadwaterError as refused:
            return refused
        return None


def scoped_session(scope: str) -> Callable[[Request], Awaitable[ScopedSession]]:
    """A dependency like ``require_scope`` whose check :meth:`ScopedSession.run` makes.

    A request without any credentials is refused here, as ``require_scope`` would; a token is
    checked (a database read) in the route's thread, or by the 422 handler when FastAPI found
    the parameters invalid (:meth:`ScopedSession.refusal`).
    """

    async def dependency(request: Request) -> ScopedSession:
        if bearer_secret(request) is None and not request.cookies:
            raise NotAuthenticated()
        scoped = request.state.scoped_session = ScopedSession(request, scope)
        return scoped

    dependency.required_scope = scope  # type: ignore[attr-defined]
    dependency.__name__ = f"scoped_session_{scope.replace(':', '_')}"
    return dependency


def public_route() -> None:
    """Marks a route that needs no credentials (health, docs, login page)."""


public_route.is_public = True  # type: ignore[attr-defined]
