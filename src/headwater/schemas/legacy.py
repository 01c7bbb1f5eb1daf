"""Legacy (``/api/...``) payload details: ids may arrive as Mongo extended JSON."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator


def unwrap_oid(value: Any) -> Any:
    """``{"$oid": "<24 hex>"}`` → ``"<24 hex>"``; anything else unchanged."""
    if isinstance(value, dict) and set(value) == {"$oid"}:
        return value["$oid"]
    return value


LegacyId = Annotated[str, BeforeValidator(unwrap_oid)]
"""A 24-hex id as legacy clients send it: plain, or wrapped as ``{"$oid": ...}``."""
