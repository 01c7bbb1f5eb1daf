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


class RateLimited(HeadwaterError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(HeadwaterError):
    status_code = 503
