"""The error answers every route declares in the OpenAPI document.

Clients generated from ``/openapi.json`` (and the schema fuzzer in ``tests/security``) only
accept the status codes a route declares. Errors that come from the shared plumbing rather than
from one route (bad or missing token, missing scope, another account's ids, rate limit, body too
large, metadata database down) are declared here, derived from how each route is built, so a
new route cannot forget them. Route-specific answers (400, 409, ...) stay on the route's own
``responses=``; this module only adds the body model to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict


class ErrorDetail(BaseModel):
    """Every error body: a message, or (422) a list of field errors in FastAPI's shape."""

    detail: str | list[dict[str, Any]]


class FieldError(BaseModel):
    """One field error of a 422, as FastAPI writes it (``input`` may be left out or masked)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ValidationFailure(BaseModel):
    """A 422: field errors naming their ``loc``, or one message for a rule across fields or
    stored data (an unknown environment id, an end before a start)."""

    detail: str | list[FieldError]


AUTH_ERRORS: dict[int, str] = {
    401: "Missing, malformed, unknown, expired or deleted token",
    403: "The token lacks the scope, or is not granted the environment",
    429: "Too many requests with this token; retry after `Retry-After` seconds",
    503: "The metadata database is unavailable; retry after `Retry-After` seconds",
}
NOT_FOUND = "Not found, or it belongs to another account or environment"
ROUTE_ERRORS: dict[int, str] = {
    400: "Invalid request (the message says what to change)",
    404: NOT_FOUND,
    409: "Conflicts with the current state (a name taken, not empty, already ended)",
    422: "Invalid body or parameters (each error names its field)",
}
TOO_LARGE = "The request body is larger than the server accepts"
#: The input guard (``api.input_guard``) answers these on any route, before authentication.
GUARD_ERRORS: dict[int, str] = {
    400: "Invalid request: a control character in the path, or JSON nested too deeply",
    422: "Invalid body or parameters: a control character or a non-finite number (each error "
    "names its field)",
}
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's own error answers, e.g. ``errors(400, 409)``."""
    return {code: {"description": ROUTE_ERRORS[code]} for code in codes}


def _is_scoped(route: APIRoute) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if getattr(dependency.call, "required_scope", None):
            return True
        pending.extend(dependency.dependencies)
    return False


def _takes_input(dependant: Dependant) -> bool:
    """Whether FastAPI validates anything of the request for this route (so it may 422)."""
    if dependant.path_params or dependant.query_params or dependant.body_params:
        return True
    if dependant.header_params or dependant.cookie_params:
        return True
    return any(_takes_input(dependency) for dependency in dependant.dependencies)


def _codes(route: APIRoute) -> dict[int, str]:
    codes: dict[int, str] = dict(GUARD_ERRORS)
    if _takes_input(route.dependant):
        # Declared here rather than left to FastAPI, whose HTTPValidationError has no room for
        # the one-message 422 of a rule across fields.
        codes[422] = ROUTE_ERRORS[422]
    if _is_scoped(route):
        codes.update(AUTH_ERRORS)
        if route.dependant.path_params:
            codes[404] = NOT_FOUND
    if (route.methods or set()) & BODY_METHODS:
        codes[413] = TOO_LARGE
    return codes


def declare_errors(routes: Iterable[APIRoute]) -> None:
    """Add the shared error answers to every route (idempotent).

    Runs right after the routers are included: FastAPI builds each included route's response
    models from ``responses`` when the app first routes a request or renders its schema.
    Existing declarations keep their description and gain the ``ErrorDetail`` body model.
    """
    for route in routes:
        merged: dict[int | str, dict[str, Any]] = {
            code: {"description": text} for code, text in _codes(route).items()
        }
        merged.update(route.responses)
        json_route = _media_type(route) == "application/json"
        # A new dict: routes registered together may share one ``responses`` mapping.
        route.responses = {
            code: _with_body(code, entry, json_route) if str(code)[0] in "45" else entry
            for code, entry in merged.items()
        }


def _media_type(route: APIRoute) -> str | None:
    response_class = getattr(route.response_class, "value", route.response_class)
    return getattr(response_class, "media_type", None)


def _with_body(code: int | str, entry: dict[str, Any], json_route: bool) -> dict[str, Any]:
    """The entry with the ``ErrorDetail`` body; errors are JSON even on CSV or text routes."""
    if "model" in entry or "content" in entry:
        return entry
    if json_route:
        if str(code) == "422":
            return {"model": ValidationFailure, **entry}
        return {"model": ErrorDetail, **entry}
    # Errors are JSON also on CSV routes; an inline schema (no component to refer to).
    schema = ErrorDetail.model_json_schema()
    return {"content": {"application/json": {"schema": schema}}, **entry}
