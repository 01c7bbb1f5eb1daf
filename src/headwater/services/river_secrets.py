"""Secret fields inside river definitions: sealed on save, masked on read, opened for runs.

Secrets are an action river's auth fields, the values of its sensitive request headers
(:func:`headwater.security.redact.is_sensitive_header`: ``Authorization``, ``Cookie``,
``X-Api-Key``, any name with *token*, *key*, *secret*, ...) and the value of every private river
variable (``"variables": {"token": {"value": ..., "is_private": true}}``, any river type). A stored
definition holds ciphertexts in those fields, so versions and exports never see clear text;
sending the mask back in an update keeps the stored value, as for connections. A private
variable's ciphertext holds the JSON text of its value, so a list stays a list.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from headwater.errors import InvalidFields
from headwater.schemas.rivers_actions import AUTH_SECRET_FIELDS
from headwater.security.crypto import MASK, SecretBox, is_encrypted
from headwater.security.redact import is_sensitive_header

PURPOSE = "river"


VARIABLES_LOC = "variables."
HEADERS_LOC = "properties.request.headers."


def secret_fields(definition: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """``(container, key, dotted location)`` of every secret field of a definition."""
    yield from private_variables(definition)
    properties = definition.get("properties")
    if not isinstance(properties, dict):
        return
    if definition.get("type") in {"source_to_target", "src_to_trgt"}:
        yield from table_secret_headers(properties)
        return
    if definition.get("type") not in {"actions", "action"}:
        return
    yield from secret_headers(properties)
    auth = properties.get("auth")
    if not isinstance(auth, dict):
        return
    for key in AUTH_SECRET_FIELDS.get(str(auth.get("type")), ()):
        if key in auth:
            yield auth, key, f"properties.auth.{key}"


def secret_headers(properties: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """``(headers, name, "properties.request.headers.<name>")`` of each sensitive header of an
    action's request: encrypted, masked and redacted like the auth fields."""
    request = properties.get("request")
    headers = request.get("headers") if isinstance(request, dict) else None
    if not isinstance(headers, dict):
        return
    for name, value in headers.items():
        if is_sensitive_header(str(name)) and isinstance(value, str) and value:
            yield headers, name, f"{HEADERS_LOC}{name}"


def table_secret_headers(
    properties: dict[str, Any],
) -> Iterator[tuple[dict[str, Any], str, str]]:
    """The sensitive headers of a REST source's per-table options
    (``schemas.N.tables.M.details.source_options.headers``)."""
    schemas = properties.get("schemas")
    for i, schema in enumerate(schemas if isinstance(schemas, list) else []):
        tables = schema.get("tables") if isinstance(schema, dict) else None
        for j, table in enumerate(tables if isinstance(tables, list) else []):
            details = table.get("details") if isinstance(table, dict) else None
            options = details.get("source_options") if isinstance(details, dict) else None
            headers = options.get("headers") if isinstance(options, dict) else None
            if not isinstance(headers, dict):
                continue
            for name, value in headers.items():
                if is_sensitive_header(str(name)) and isinstance(value, str) and value:
                    loc = f"properties.schemas.{i}.tables.{j}.details.source_options.headers"
                    yield headers, name, f"{loc}.{name}"


def is_header(loc: str) -> bool:
    """A request header's location, of an action or of a REST source's table."""
    return loc.startswith(HEADERS_LOC) or ".source_options.headers." in loc


def header_env_part(loc: str) -> str:
    """``HEADER`` for an action's header, ``S<i>_T<j>_HEADER`` for a table's (two tables may
    send the same header with different values)."""
    if loc.startswith(HEADERS_LOC):
        return "HEADER"
    parts = loc.split(".")
    return f"S{parts[2]}_T{parts[4]}_HEADER"


def private_variables(
    definition: dict[str, Any],
) -> Iterator[tuple[dict[str, Any], str, str]]:
    """``(variable object, "value", "variables.<name>.value")`` of every private variable."""
    variables = definition.get("variables")
    if not isinstance(variables, dict):
        return
    for name, variable in variables.items():
        if isinstance(variable, dict) and variable.get("is_private") and "value" in variable:
            yield variable, "value", f"{VARIABLES_LOC}{name}.value"


def is_variable(loc: str) -> bool:
    return loc.startswith(VARIABLES_LOC)


def secret_text(value: Any) -> str:
    """A clear secret as text (a private variable's list or number as JSON), to compare and
    to redact."""
    return value if isinstance(value, str) else json.dumps(value)


def variable_from_text(text: Any) -> Any:
    """A private variable's value from text (``headwater apply`` reads it from an environment
    variable): a JSON list becomes a list, anything else stays as it is."""
    if isinstance(text, str) and text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        if isinstance(parsed, list):
            return parsed
    return text


def _encrypt(box: SecretBox, loc: str, value: Any) -> str:
    plaintext = json.dumps(value) if is_variable(loc) else str(value)
    return box.encrypt(plaintext, purpose=PURPOSE)


def _decrypt(box: SecretBox, loc: str, stored: str) -> Any:
    plaintext = box.decrypt(stored, purpose=PURPOSE)
    return json.loads(plaintext) if is_variable(loc) else plaintext


def seal(
    definition: dict[str, Any], box: SecretBox, stored: dict[str, Any] | None
) -> dict[str, Any]:
    """A copy with clear secrets encrypted and masks replaced by the stored ciphertext."""
    sealed = copy.deepcopy(definition)
    previous = {loc: holder[key] for holder, key, loc in secret_fields(stored or {})}
    same_auth = (stored or {}).get("properties", {}).get("auth", {}).get("type") == (
        sealed.get("properties", {}).get("auth", {}).get("type")
    )
    errors: list[tuple[str, str]] = []
    for holder, key, loc in secret_fields(sealed):
        value = holder[key]
        if value == MASK:
            if (same_auth or is_variable(loc) or is_header(loc)) and loc in previous:
                value = holder[key] = previous[loc]
            else:
                errors.append((loc, "the mask was sent but no value is stored"))
                continue
        if not is_encrypted(value):  # new, or stored in clear before it counted as a secret
            holder[key] = _encrypt(box, loc, value)
    if errors:
        raise InvalidFields(errors)
    return sealed


def masked(definition: dict[str, Any]) -> dict[str, Any]:
    shown = copy.deepcopy(definition)
    for holder, key, _loc in secret_fields(shown):
        holder[key] = MASK
    return shown


def opened(definition: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    """Secrets in clear: for the engine only, never for a response, log or audit event."""
    clear = copy.deepcopy(definition)
    for holder, key, loc in secret_fields(clear):
        if is_encrypted(holder[key]):
            holder[key] = _decrypt(box, loc, holder[key])
    return clear


def sealed_in_place(definition: dict[str, Any], box: SecretBox) -> dict[str, Any] | None:
    """A copy with every secret field that is still in clear encrypted, or None when there is
    none: definitions saved before a field counted as a secret (credential headers)."""
    copied = copy.deepcopy(definition)
    changed = False
    for holder, key, loc in secret_fields(copied):
        value = holder[key]
        if value != MASK and not is_encrypted(value):
            holder[key] = _encrypt(box, loc, value)
            changed = True
    return copied if changed else None
