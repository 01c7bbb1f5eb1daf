"""Domain errors raised by services; the API maps each class to one HTTP status at one place."""

from __future__ import annotations


class HeadwaterError(Exception):
    """Base of every error a user can act on; its message is shown as the response detail."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(HeadwaterError):
    status_code = 400


class NotAuthenticated(HeadwaterError):
    status_code = 401

    def __init__(self, message: str = "Credentials are not valid") -> None:
        super().__init__(message)


class Forbidden(HeadwaterError):
    status_code = 403


class NotFound(HeadwaterError):
    status_code = 404


class Conflict(HeadwaterError):
    status_code = 409


class Unprocessable(HeadwaterError):
    status_code = 422


class InvalidFields(Unprocessable):
    """A 422 naming the offending fields, answered in FastAPI's own validation-error shape.

    Services raise it for checks a request model cannot do alone (a connection that does not
    exist, a cycle between logic rivers), so clients parse every 422 the same way. ``errors`` are
    ``(location, message)`` pairs; a location is a dotted path such as ``properties.source``.
    """

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{loc}: {msg}" for loc, msg in errors))
        self.errors = errors

    def detail(self) -> list[dict[str, object]]:
        return [
            {
                "type": "value_error",
                "loc": ["body", *(int(p) if p.isdigit() else p for p in loc.split(".") if p)],
                "msg": msg,
                "input": None,
            }
            for loc, msg in self.errors
        ]


class RateLimited(HeadwaterError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(HeadwaterError):
    status_code = 503
