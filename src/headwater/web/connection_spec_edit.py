"""The spec form on the edit page of an ``airbyte`` connection: what the page shows, and how a
posted form becomes the ``config`` / ``secret_config`` properties the service validates.

The JSON fields stay on the page for shapes the form cannot express; the form's fields are
laid over them (and over the stored secrets), so a value set in either place is kept.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData

from headwater.store.models import Connection
from headwater.web.connector_spec_fetch import connector_spec, stored_secrets
from headwater.web.connector_spec_form import apply_form, build_fields

MARKER = "spec_form"


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def spec_context(
    request: Request,
    connection: Connection,
    posted: dict[str, str] | None,
    errors: dict[str, str],
) -> dict[str, Any] | None:
    """The edit page's spec form (``None`` for types other than ``airbyte``)."""
    if connection.connection_type != "airbyte":
        return None
    secrets = set(stored_secrets(request, connection))
    return spec_form_context(request, dict(connection.properties), secrets, posted, errors)


def spec_form_context(
    request: Request,
    properties: dict[str, Any],
    secret_keys: set[str],
    posted: dict[str, str] | None,
    errors: dict[str, str],
) -> dict[str, Any]:
    """The form's fields, the properties left to JSON, or why there is no form."""
    schema, problem = connector_spec(request, properties)
    if problem:
        return {"fields": [], "left": [], "problem": problem}
    config = _json_object(str(properties.get("config") or "")) or {}
    fields, left = build_fields(schema, config, secret_keys, posted=posted, errors=errors)
    return {"fields": fields, "left": left, "problem": ""}


def spec_overlay(
    request: Request, connection: Connection, form: FormData, properties: dict[str, Any]
) -> dict[str, str]:
    """Fold the posted spec form into ``properties``; returns field errors (nothing saved)."""
    if connection.connection_type != "airbyte" or MARKER not in form:
        return {}
    stored = stored_secrets(request, connection)
    return overlay(request, dict(connection.properties), form, properties, stored)


def overlay(
    request: Request,
    source: dict[str, Any],
    form: FormData,
    properties: dict[str, Any],
    stored: dict[str, Any],
) -> dict[str, str]:
    """The posted spec form over the JSON fields' ``config`` and the secrets (posted JSON, or
    ``stored``), written into ``properties``; returns field errors."""
    schema, problem = connector_spec(request, source)
    if problem:
        return {}
    config = _json_object(str(form.get("p_config", "")))
    if config is None:
        return {"config": "The connector's configuration must be a JSON object."}
    raw_secrets = str(form.get("p_secret_config", ""))
    if raw_secrets.strip():
        secrets = _json_object(raw_secrets)
        if secrets is None:
            return {"secret_config": "Secret settings must be a JSON object."}
    else:
        secrets = stored
    posted = {k: str(v) for k, v in form.items()}
    applied = apply_form(schema, posted, config, secrets)
    if applied.errors:
        return applied.errors
    properties["config"] = json.dumps(applied.config)
    if applied.secrets:
        properties["secret_config"] = json.dumps(applied.secrets)
    else:
        properties.pop("secret_config", None)
    return {}
