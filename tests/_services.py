"""Availability checks for the real services the suite talks to.

Outside CI a missing service skips the tests that need it, with a reason naming it; under
``CI=true`` a missing service fails them, because CI must prove everything runs for real.
"""

from __future__ import annotations

import os
import socket

import pytest

SERVICES: dict[str, tuple[str, int]] = {
    "postgres": ("127.0.0.1", 5432),
    "mysql": ("127.0.0.1", 3306),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
}

PG_ADMIN_URL = os.environ.get(
    "HEADWATER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MYSQL_HOST = "127.0.0.1"
MYSQL_PORT = 3306
MYSQL_USER = "root"
MYSQL_PASSWORD = ""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def service_up(name: str) -> bool:
    host, port = SERVICES[name]
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str) -> None:
    """Skip (locally) or fail (in CI) when the named service is not reachable."""
    if service_up(name):
        return
    host, port = SERVICES[name]
    message = f"{name} is not reachable on {host}:{port}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing service fails the suite)")
    pytest.skip(message)
