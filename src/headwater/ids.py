"""Identifier formats clients rely on: 24 hex chars for objects, 32 for runs."""

from __future__ import annotations

import re
import secrets

OBJECT_ID_PATTERN = re.compile(r"^[0-9a-f]{24}$")
RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")


def new_object_id() -> str:
    """Id of an account, environment, user, river, connection, group or token."""
    return secrets.token_hex(12)


def new_run_id() -> str:
    """Id of a run or a run group."""
    return secrets.token_hex(16)


def is_object_id(value: str) -> bool:
    return bool(OBJECT_ID_PATTERN.match(value))
