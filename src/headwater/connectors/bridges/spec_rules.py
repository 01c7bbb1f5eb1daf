"""The rules of a connector's config schema, as messages that never show a value.

:func:`problems` checks a config (secret settings merged in) with the ``jsonschema`` library
against an Airbyte ``connectionSpecification`` or a Singer ``settings`` schema. A message
names the field and the rule (``must be at least 1 (rule: minimum)``), never the value: a
secret setting that breaks a rule must not come back in an error body or a log.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import exceptions as schema_errors
from jsonschema import validators

from headwater.connectors.bridges.source import merge_secrets


def secret_paths(schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the fields a connector's spec marks ``airbyte_secret``."""
    paths: list[str] = []
    properties = schema.get("properties")
    for name, field in (properties if isinstance(properties, Mapping) else {}).items():
        if not isinstance(field, Mapping):
            continue
        path = f"{prefix}{name}"
        if field.get("airbyte_secret") is True:
            paths.append(path)
        paths.extend(secret_paths(field, f"{path}."))
        for option in field.get("oneOf") or []:
            if isinstance(option, Mapping):
                paths.extend(secret_paths(option, f"{path}."))
    return sorted(set(paths))


def _field(path: list[Any]) -> str:
    return ".".join(str(p) for p in path)


def _rule(error: schema_errors.ValidationError) -> str:
    rule, bound = str(error.validator), error.validator_value
    texts: dict[str, Callable[[], str]] = {
        "type": lambda: (
            "must be of type " + (bound if isinstance(bound, str) else " or ".join(map(str, bound)))
        ),
        "minimum": lambda: f"must be at least {bound}",
        "maximum": lambda: f"must be at most {bound}",
        "exclusiveMinimum": lambda: f"must be above {bound}",
        "exclusiveMaximum": lambda: f"must be below {bound}",
        "minLength": lambda: f"must have at least {bound} characters",
        "maxLength": lambda: f"must have at most {bound} characters",
        "pattern": lambda: f"must match the pattern {bound}",
        "format": lambda: f"must be a valid {bound}",
        "enum": lambda: "must be one of " + ", ".join(json.dumps(v) for v in bound)[:300],
        "const": lambda: "must be " + json.dumps(bound)[:300],
        "minItems": lambda: f"must have at least {bound} items",
        "maxItems": lambda: f"must have at most {bound} items",
        "uniqueItems": lambda: "must not repeat items",
        "oneOf": lambda: "matches none of the connector's options (or more than one)",
        "anyOf": lambda: "matches none of the connector's options",
        "additionalProperties": lambda: "has fields the connector's spec does not know",
    }
    text = texts[rule]() if rule in texts else "breaks the connector's spec"
    return f"{text} (rule: {rule})"


def problems(
    schema: Mapping[str, Any], config: Mapping[str, Any], secrets: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """``(location, message)`` per broken rule; a location is ``properties.config.<field>``
    or, for a field given in ``secret_config`` or marked ``airbyte_secret``,
    ``properties.secret_config.<field>``."""
    marked = secret_paths(schema)
    secret_fields = set(secrets) | set(marked)
    found: list[tuple[str, str]] = []

    def location(name: str) -> str:
        parts = name.split(".")
        secret = any(".".join(parts[:i]) in secret_fields for i in range(1, len(parts) + 1))
        return f"properties.{'secret_config' if secret else 'config'}" + (
            f".{name}" if name else ""
        )

    for name in marked:
        if has_path(config, name):
            found.append(
                (
                    f"properties.config.{name}",
                    "the connector marks this field secret: set it in secret_config "
                    "(stored encrypted)",
                )
            )
    merged = merge_secrets(dict(config), secrets)
    cls = validators.validator_for(schema, default=validators.Draft7Validator)
    try:
        errors = list(cls(schema).iter_errors(merged))
    except Exception:
        # A connector's spec need not be valid JSON Schema everywhere (singer-sdk's --about
        # has a bare "null" in stream_maps' anyOf): a spec that breaks the validator is not
        # checked here, as a tap without --about is not.
        return found
    for error in sorted(errors, key=lambda e: list(map(str, e.path))):
        at = _field(list(error.absolute_path))
        if error.validator == "required" and isinstance(error.instance, Mapping):
            for missing in error.validator_value:
                if missing not in error.instance:
                    name = f"{at}.{missing}" if at else str(missing)
                    found.append((location(name), "field required (rule: required)"))
            continue
        found.append((location(at), _rule(error)))
    return list(dict.fromkeys(found))


def summary(found: list[tuple[str, str]]) -> str:
    """One line for a connection test's error."""
    return "the config does not match the connector's spec: " + "; ".join(
        f"{where.removeprefix('properties.')}: {message}" for where, message in found
    )


def has_path(config: Mapping[str, Any], path: str) -> bool:
    """Whether a dotted path of the config holds a value (not null, not empty)."""
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return node not in (None, "")
