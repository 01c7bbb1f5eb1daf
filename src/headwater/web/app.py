"""Wiring the console into the API app.

``include_console(app)`` registers the page routers, the packaged static files, the console
session as the API's fallback authenticator, HTML error pages for console paths (the API keeps
its JSON errors) and the security headers every console response carries (API responses get
``nosniff``), also on unhandled errors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from headwater.errors import HeadwaterError, RateLimited
from headwater.web import (
    activities,
    builder,
    builder_action,
    builder_logic,
    connection_edit,
    connection_inline,
    connections,
    connector_packages,
    environments,
    login,
    rivers,
    runs,
    sample,
    tokens,
    users,
)
from headwater.web.auth import LoginRequired, console_authenticator
from headwater.web.render import PREFIX, STATIC_DIR, error_page

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
        b"object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]
Handler = Callable[[Request, Any], Awaitable[Response]]


def _handler(app: FastAPI, key: type[Exception]) -> Handler:
    found: Any = app.exception_handlers[key]
    handler: Handler = found  # the API installs only async handlers
    return handler


def is_console(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    """``nosniff`` and ``no-store`` (answers are per account, some show a secret once) on every
    API response; the console's full set (``no-store`` on pages only) on console paths."""
    if not is_console(path):
        return [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")]
    if path.startswith(PREFIX + "/static/"):
        return SECURITY_HEADERS
    return [*SECURITY_HEADERS, (b"cache-control", b"no-store")]


class SecurityHeaders:
    """Adds ``headers_for(path)`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(str(scope.get("path", "")))

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = [*headers, *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _wants_json(request: Request) -> bool:
    return request.url.path.endswith(".json")


def _install_error_pages(app: FastAPI) -> None:
    """HTML error pages for console paths; every other path keeps the API's JSON handler."""
    api_domain = _handler(app, HeadwaterError)
    api_validation = _handler(app, RequestValidationError)
    api_http = _handler(app, StarletteHTTPException)
    api_unexpected = _handler(app, Exception)

    async def domain_error(request: Request, exc: HeadwaterError) -> Response:
        if not is_console(request.url.path) or _wants_json(request):
            return await api_domain(request, exc)
        response = error_page(request, exc.status_code, exc.message)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if not is_console(request.url.path) or _wants_json(request):
            return await api_validation(request, exc)
        fields = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
        return error_page(request, 422, f"Some input was missing or malformed: {fields}.")

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_console(request.url.path) or _wants_json(request):
            return await api_http(request, exc)
        message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, message)

    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "Your console session has ended"}, status_code=401)
        if request.method != "GET":  # a form posted after the session ended: start over
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='/')}", status_code=303)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # Starlette answers unhandled errors outside every middleware: add the headers here.
        response = await api_unexpected(request, exc)
        response.raw_headers.extend(headers_for(request.url.path))
        return response

    app.add_exception_handler(Exception, unexpected)
    app.add_exception_handler(HeadwaterError, domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(LoginRequired, login_required)  # type: ignore[arg-type]


def include_console(app: FastAPI) -> None:
    """Serve the console from this app; call once, after the API routers are included."""
    # ``builder`` before ``rivers``: its fixed paths (``rivers/new``) precede ``rivers/{id}``.
    pages = (login, tokens, users, builder, builder_logic, builder_action, sample, rivers, runs)
    connection_pages = (connection_inline, connection_edit, connections)
    for module in (*pages, activities, *connection_pages, environments, connector_packages):
        app.include_router(module.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    app.state.console_authenticator = console_authenticator
    _install_error_pages(app)
    app.add_middleware(SecurityHeaders)
