"""Review before saving, shared by the builders: the definition as the API will store it, and
its diff against the saved version (defaults filled in on both sides, so only real changes
show)."""

from __future__ import annotations

import difflib
import json
from typing import Any

from fastapi.exceptions import RequestValidationError

from headwater.errors import InvalidFields
from headwater.schemas.rivers import RIVER_IN


def pretty(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, sort_keys=True)


def normalised(body: dict[str, Any]) -> dict[str, Any]:
    """A definition as the API stores it (defaults filled in), so a diff shows real changes."""
    model = RIVER_IN.validate_python(body)
    dumped: dict[str, Any] = model.model_dump(mode="json", exclude={"metadata": {"river_status"}})
    return dumped


def diff_lines(saved: dict[str, Any], proposed: dict[str, Any]) -> list[str]:
    """Unified diff lines (without the file headers) of two normalised definitions."""
    before = pretty(normalised(saved)).splitlines()
    lines = list(difflib.unified_diff(before, pretty(proposed).splitlines(), "saved", "new"))
    return lines[2:] if lines else []


def error_pairs(exc: Exception) -> list[tuple[Any, str]]:
    """``(location, message)`` of a refused body: the model's 422 or a service's
    ``InvalidFields``; ``[]`` for any other error (the form shows its message on top)."""
    if isinstance(exc, RequestValidationError):
        return [(tuple(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors()]
    if isinstance(exc, InvalidFields):
        return [(tuple(loc.split(".")), msg) for loc, msg in exc.errors]
    return []
