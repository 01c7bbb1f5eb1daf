"""The one place where errors become HTTP responses, all shaped ``{"detail": ...}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from headwater.api.bodies import shown_input
from headwater.api.deps import ScopedSession
from headwater.errors import HeadwaterError, InvalidFields, RateLimited

logger = logging.getLogger(__name__)

METADATA_DB_RETRY_SECONDS = 5


def _json_safe_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    """FastAPI's own error list reduced to ``type``, ``loc``, ``msg`` and ``input: null``.

    The input is never repeated (``bodies.shown_input``): FastAPI puts the whole offending object
    there, or the whole body when it is not JSON (``text/plain``, a form), password included;
    ``ctx`` may hold exceptions or non-finite floats a JSON answer cannot carry.
    """
    cleaned: list[dict[str, object]] = []
    for error in exc.errors():
        item = {k: v for k, v in error.items() if k in {"type", "loc", "msg"}}
        item["input"] = shown_input(error)
        cleaned.append(item)
    return cleaned


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HeadwaterError)
    async def domain_error(_request: Request, exc: HeadwaterError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        detail = exc.detail() if isinstance(exc, InvalidFields) else exc.message
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        scoped: ScopedSession | None = getattr(request.state, "scoped_session", None)
        refused = await scoped.refusal() if scoped is not None else None
        if refused is not None:  # the scope check comes first, as it does for sync routes
            return await domain_error(request, refused)
        return JSONResponse({"detail": _json_safe_errors(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(OperationalError)
    async def metadata_db_down(_request: Request, exc: OperationalError) -> JSONResponse:
        logger.warning("metadata database unavailable: %s", exc.__class__.__name__)
        return JSONResponse(
            {"detail": "The metadata database is unavailable; retry shortly."},
            status_code=503,
            headers={"Retry-After": str(METADATA_DB_RETRY_SECONDS)},
        )

    @app.exception_handler(DBAPIError)
    async def metadata_db_error(_request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await metadata_db_down(_request, OperationalError("", {}, exc.orig or exc))
        logger.exception("metadata database error")
        return JSONResponse({"detail": "Internal server error"}, status_code=500)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return JSONResponse({"detail": "Internal server error"}, status_code=500)
