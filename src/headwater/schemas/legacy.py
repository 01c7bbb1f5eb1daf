"""Legacy (``/api/...``) payload details: ids may arrive as Mongo extended JSON."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator

from headwater.schemas.rivers import CANONICAL_TYPES
from headwater.schemas.rivers_common import CRON_SHAPE, NOT_BLANK, OBJECT_ID_SCHEMA


def unwrap_oid(value: Any) -> Any:
    """``{"$oid": "<24 hex>"}`` → ``"<24 hex>"``; anything else unchanged."""
    if isinstance(value, dict) and set(value) == {"$oid"}:
        return value["$oid"]
    return value


LegacyId = Annotated[str, BeforeValidator(unwrap_oid)]
"""A 24-hex id as legacy clients send it: plain, or wrapped as ``{"$oid": ...}``."""


# -- declared bodies of the legacy routes (they read JSON by hand: rivery-cli sends no
# ``Content-Type``), so ``/openapi.json`` says what each one needs ---------------------------

_ID_TEXT: dict[str, Any] = {"type": "string", "minLength": 1}
LEGACY_ID_SCHEMA: dict[str, Any] = {
    "anyOf": [
        _ID_TEXT,
        {
            "type": "object",
            "properties": {"$oid": _ID_TEXT},
            "required": ["$oid"],
            "additionalProperties": False,
        },
    ],
    "description": 'An id, plain or as Mongo extended JSON (`{"$oid": "..."}`).',
}
_NAME: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": NOT_BLANK}


def _named_by(keys: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    """An object naming its target by one of ``keys`` (the first non-empty one counts)."""
    return {
        "type": "object",
        "properties": {**{key: LEGACY_ID_SCHEMA for key in keys}, **extra},
        "anyOf": [{"required": [key]} for key in keys],
    }


RIVER_KEYS = ("_id", "cross_id", "river_id")
GROUP_KEYS = ("_id", "cross_id", "group_id")
RIVER_BY_ID = _named_by(RIVER_KEYS)
GROUP_BY_ID = _named_by(GROUP_KEYS)
GROUP_RENAME = {**_named_by(GROUP_KEYS, group_name=_NAME), "required": ["group_name"]}
GROUP_NEW: dict[str, Any] = {
    "type": "object",
    "properties": {"group_name": _NAME},
    "required": ["group_name"],
}
LEGACY_RIVER: dict[str, Any] = {
    "type": "object",
    "description": "A river as rivery-cli sends it. `tasks_definitions[0].task_config` is "
    "translated into the v1 `properties` of the river type and validated as a v1 river.",
    "properties": {
        **{key: LEGACY_ID_SCHEMA for key in RIVER_KEYS},
        "river_definitions": {
            "type": "object",
            "properties": {
                "river_type": {"type": "string", "enum": sorted(CANONICAL_TYPES)},
                "river_name": _NAME,
                "river_desc": {"type": "string", "maxLength": 5000},
                "group_id": {"anyOf": [OBJECT_ID_SCHEMA, {"type": "null"}]},
            },
            "required": ["river_type", "river_name"],
        },
        "tasks_definitions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "task_config": {"type": "object"},
                    "schedule": {
                        "type": "object",
                        "properties": {
                            "cronExp": {"type": "string", "pattern": CRON_SHAPE},
                            "isEnabled": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
    "required": ["river_definitions", "tasks_definitions"],
}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON request body of ``schema``."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
