"""A form from an Airbyte connector's ``spec`` (its ``connectionSpecification`` JSON Schema).

Top-level fields of the kinds a plain HTML form expresses are rendered: strings, integers,
numbers, booleans, enums and arrays of strings (one item per line). ``airbyte_secret`` fields
are password inputs whose values go into ``secret_config`` (stored encrypted); the page shows
only whether each is set. Everything else (objects, ``oneOf`` choices) stays in the JSON
``config`` / ``secret_config`` fields the page keeps as a fallback, and values the form does
not own are carried over untouched.

Pure functions (no I/O), so the mapping is tested with a small spec dict; fetching the spec
from the installed package is ``web.connector_spec_fetch``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PREFIX = "s_"
CLEAR = "clear_s_"
MAX_ITEMS = 200


@dataclass
class SpecField:
    """One input of the generated form."""

    name: str
    label: str
    kind: str  # text | number | integer | checkbox | select | lines | password
    required: bool
    description: str = ""
    options: list[str] = field(default_factory=list)
    value: str = ""
    is_set: bool = False  # secrets: whether a value is stored (never the value)
    error: str = ""

    @property
    def input_name(self) -> str:
        return PREFIX + self.name


def _types(schema: Mapping[str, Any]) -> list[str]:
    found = schema.get("type")
    listed = found if isinstance(found, list) else [found]
    return [str(t) for t in listed if t not in (None, "null")]


def _kind(schema: Mapping[str, Any]) -> str | None:
    """The input for a property, or None when only the JSON fields can express it."""
    if schema.get("airbyte_secret") is True:
        return "password" if _types(schema) in (["string"], []) else None
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return "select"
    types = _types(schema)
    if len(types) != 1:
        return None
    kind = types[0]
    if kind == "string":
        return "text"
    if kind in ("integer", "number"):
        return kind
    if kind == "boolean":
        return "checkbox"
    items = schema.get("items")
    if kind == "array" and isinstance(items, Mapping) and _types(items) == ["string"]:
        return "lines" if "enum" not in items else None
    return None


def _shown(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "lines" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if kind == "checkbox":
        return "true" if value is True else ""
    return str(value)


def properties_of(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = schema.get("properties")
    if not isinstance(found, Mapping):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, Mapping)}


def _ordered(schema: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Properties in the spec's ``order`` (Airbyte's UI hint), then by name."""
    props = properties_of(schema)

    def key(item: tuple[str, Mapping[str, Any]]) -> tuple[int, str]:
        order = item[1].get("order")
        return (order if isinstance(order, int) else 10_000, item[0])

    return sorted(props.items(), key=key)


def build_fields(
    schema: Mapping[str, Any],
    config: Mapping[str, Any],
    secret_keys: set[str],
    *,
    posted: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> tuple[list[SpecField], list[str]]:
    """The form's fields (values from ``config``, or from ``posted`` when shown again) and
    the names of the properties left to the JSON fields."""
    required = {str(r) for r in schema.get("required") or []}
    fields: list[SpecField] = []
    left: list[str] = []
    for name, prop in _ordered(schema):
        kind = _kind(prop)
        if kind is None:
            left.append(name)
            continue
        if posted is not None and kind not in ("password", "checkbox"):
            value = posted.get(PREFIX + name, "")
        elif posted is not None and kind == "checkbox":
            value = "true" if PREFIX + name in posted else ""
        else:
            default = prop.get("default") if kind != "password" else None
            value = "" if kind == "password" else _shown(kind, config.get(name, default))
        options = [str(v) for v in prop.get("enum") or []] if kind == "select" else []
        fields.append(
            SpecField(
                name=name,
                label=str(prop.get("title") or name.replace("_", " ").capitalize()),
                kind=kind,
                required=name in required,
                description=str(prop.get("description") or ""),
                options=options,
                value=value,
                is_set=kind == "password" and name in secret_keys,
                error=(errors or {}).get(name, ""),
            )
        )
    return fields, left


def _parse(kind: str, raw: str, prop: Mapping[str, Any]) -> Any:
    """The typed value of a posted field; raises ValueError with a message for the user."""
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("Enter a whole number.") from None
    if kind == "number":
        try:
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        except ValueError:
            raise ValueError("Enter a number.") from None
    if kind == "select":
        choices = list(prop.get("enum") or [])
        for choice in choices:
            if str(choice) == raw:
                return choice
        raise ValueError("Choose one of: " + ", ".join(str(c) for c in choices))
    if kind == "lines":
        items = [line.strip() for line in raw.splitlines() if line.strip()]
        if len(items) > MAX_ITEMS:
            raise ValueError(f"At most {MAX_ITEMS} lines.")
        return items
    return raw


def _check_bounds(kind: str, value: Any, prop: Mapping[str, Any]) -> None:
    if kind in ("integer", "number"):
        low, high = prop.get("minimum"), prop.get("maximum")
        if isinstance(low, (int, float)) and value < low:
            raise ValueError(f"The smallest value allowed is {low}.")
        if isinstance(high, (int, float)) and value > high:
            raise ValueError(f"The largest value allowed is {high}.")


@dataclass
class Applied:
    """The posted form folded into the connection's ``config`` and ``secret_config``."""

    config: dict[str, Any]
    secrets: dict[str, Any]
    errors: dict[str, str]


def apply_form(
    schema: Mapping[str, Any],
    posted: Mapping[str, str],
    config: Mapping[str, Any],
    secrets: Mapping[str, Any],
) -> Applied:
    """Set each form field in ``config`` (or ``secrets`` for ``airbyte_secret`` fields) and
    check the spec's ``required``, types, enums and bounds; other keys are kept as they are.
    An empty secret keeps the stored value unless its "remove" box is ticked."""
    new_config = json.loads(json.dumps(dict(config)))
    new_secrets = dict(secrets)
    errors: dict[str, str] = {}
    props = properties_of(schema)
    for name, prop in props.items():
        kind = _kind(prop)
        if kind is None:
            continue
        raw = str(posted.get(PREFIX + name, "")).strip()
        if kind == "password":
            new_config.pop(name, None)  # a secret never stays in the plain config
            if raw:
                new_secrets[name] = str(posted.get(PREFIX + name, ""))
            elif CLEAR + name in posted:
                new_secrets.pop(name, None)
            continue
        if kind == "checkbox":
            new_config[name] = PREFIX + name in posted
            continue
        if raw == "":
            new_config.pop(name, None)
            continue
        try:
            value = _parse(kind, raw, prop)
            _check_bounds(kind, value, prop)
        except ValueError as exc:
            errors[name] = str(exc)
            continue
        new_config[name] = value
    for name in (str(r) for r in schema.get("required") or []):
        if name in errors or name not in props:
            continue
        present = new_secrets if props[name].get("airbyte_secret") is True else new_config
        if present.get(name) in (None, "", []):
            errors[name] = "Required by the connector."
    return Applied(new_config, new_secrets, errors)
