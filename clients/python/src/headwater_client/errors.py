"""Typed exceptions: every answer the API refuses becomes one, carrying its status and message.

The API answers every error as ``{"detail": ...}``: a string, or FastAPI's list of
``{"loc", "msg", ...}`` for validation errors. ``ApiError.message`` is that detail as one
readable line (each validation error as ``field: message``), so scripts and orchestrators can
show it as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headwater_client.models import RunGroup


class HeadwaterError(Exception):
    """Base of every error this client raises."""


class ApiError(HeadwaterError):
    """The API answered with an error status."""

    def __init__(self, status_code: int, message: str, body: Any = None) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.body = body


class BadRequest(ApiError):
    """400: a business rule refused the request (a disabled river, a bad window...)."""


class AuthenticationError(ApiError):
    """401: the token is missing, unknown or expired."""


class PermissionDenied(ApiError):
    """403: the token lacks the scope (or admin power) the call needs."""


class NotFound(ApiError):
    """404: no such river, run, connection or token in this account and environment."""


class Conflict(ApiError):
    """409: a name is taken, or the object is in use."""


class ValidationError(ApiError):
    """422: the body or a parameter is invalid; ``errors`` lists each problem."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        detail = self.body.get("detail") if isinstance(self.body, dict) else None
        return [e for e in detail if isinstance(e, dict)] if isinstance(detail, list) else []


class RateLimited(ApiError):
    """429 after every retry: too many requests with this token."""


class ServerError(ApiError):
    """5xx (503 after every retry): the server or its metadata database is unavailable."""


class WaitTimeout(HeadwaterError):
    """A run group did not finish within the time given to ``wait``."""

    def __init__(self, run_group: RunGroup, timeout: float) -> None:
        super().__init__(
            f"run group {run_group.run_group_id} is still {run_group.status} after {timeout:g} s"
        )
        self.run_group = run_group
        self.timeout = timeout


class RunFailed(HeadwaterError):
    """A run group ended in another status than ``succeeded``; the message carries each failed
    run's ``error_description``."""

    def __init__(self, run_group: RunGroup) -> None:
        reasons = "; ".join(run_group.errors()) or "no error description"
        super().__init__(
            f"run group {run_group.run_group_id} of river {run_group.river_id} "
            f"{run_group.status}: {reasons}"
        )
        self.run_group = run_group


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: RateLimited,
}


def message_of(body: Any, fallback: str) -> str:
    """The API's ``detail`` as one line."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for error in detail:
            if isinstance(error, dict):
                loc = ".".join(str(p) for p in error.get("loc", []) if p not in ("body", "query"))
                parts.append(f"{loc}: {error.get('msg', '')}" if loc else str(error.get("msg")))
            else:
                parts.append(str(error))
        return "; ".join(parts)
    return fallback


def error_for(status_code: int, body: Any, text: str) -> ApiError:
    """The exception for an error answer."""
    kind = _BY_STATUS.get(status_code, ServerError if status_code >= 500 else ApiError)
    return kind(status_code, message_of(body, text.strip()[:500] or f"HTTP {status_code}"), body)
