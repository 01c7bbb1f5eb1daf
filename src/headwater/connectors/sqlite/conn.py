"""SQLite error translation."""

from __future__ import annotations

import sqlite3

from headwater.connectors.errors import (
    Cancelled,
    ConnectionFailed,
    ConnectorError,
    LoadFailed,
    ObjectNotFound,
    TransientLoadFailed,
    ValueRejected,
)


def translate(exc: BaseException, what: str) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    message = str(exc)
    lowered = message.lower()
    if "interrupted" in lowered:
        return Cancelled(f"{what}: interrupted")
    if "no such table" in lowered or "no such column" in lowered:
        return ObjectNotFound(f"{what}: {message}")
    if "locked" in lowered or "busy" in lowered:
        return TransientLoadFailed(f"{what}: {message}")
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
        return ValueRejected(f"{what}: value rejected: {message}")
    if "unable to open" in lowered:
        return ConnectionFailed(f"{what}: {message}")
    return LoadFailed(f"{what}: {message}")
