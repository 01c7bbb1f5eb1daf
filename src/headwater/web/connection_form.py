"""The new-connection form, shared by the Connections page and the builder's inline dialog.

Fields are built from the connector catalogue the API validates against, and a posted form
becomes a ``ConnectionIn`` for ``services.connections.create_connection``: the same checks and
messages as ``POST .../connections``. Secret values are never rendered back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from headwater.connectors.base import ConnectorSpec
from headwater.errors import HeadwaterError, InvalidFields
from headwater.schemas.connections import ConnectionIn
from headwater.security.crypto import SecretBox
from headwater.security.local_paths import LocalPathPolicy
from headwater.services import connection_types
from headwater.services import connections as service
from headwater.services.auth import actor_for
from headwater.services.envscope import EnvScope
from headwater.store.models import Connection
from headwater.web.auth import ConsoleUser
from headwater.web.connection_spec_edit import MARKER, overlay


def fields_for(
    spec: ConnectorSpec | None, values: dict[str, str] | None, errors: dict[str, str] | None
) -> list[dict[str, Any]]:
    """One input per property of ``spec``: password inputs for secrets, never pre-filled."""
    fields: list[dict[str, Any]] = []
    for prop in spec.properties if spec is not None else ():
        secret = connection_types.is_secret(prop)
        value = (values or {}).get(prop.name)
        if value is None and not secret and prop.default is not None:
            value = str(prop.default)
        fields.append(
            {
                "name": prop.name,
                "label": prop.name.replace("_", " ").capitalize(),
                "input": "password"
                if secret
                else {"integer": "number", "boolean": "checkbox"}.get(prop.type, "text"),
                "required": prop.required and prop.default is None,
                "value": "" if secret else (value or ""),
                "description": prop.description,
                "error": (errors or {}).get(prop.name, ""),
            }
        )
    return fields


@dataclass
class Outcome:
    """A created connection, or what the form shows again (values without secrets, errors)."""

    connection: Connection | None = None
    type_name: str = ""
    shown: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str = ""
    status_code: int = 201


def create_from_form(
    request: Request, session: Session, scope: EnvScope, user: ConsoleUser, form: FormData
) -> Outcome:
    """Create the posted connection through the API's service; errors name their field."""
    spec = connection_types.find_spec(str(form.get("connection_type", "")))
    values = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    if spec is None:
        return Outcome(error="Choose a connection type.", status_code=422)
    properties: dict[str, Any] = {}
    for prop in spec.properties:
        raw = values.get(f"p_{prop.name}", "")
        if prop.type == "boolean":
            properties[prop.name] = f"p_{prop.name}" in form
        elif raw != "":
            properties[prop.name] = raw
    shown = {"connection_name": values.get("connection_name", "")}
    shown.update({p.name: values.get(f"p_{p.name}", "") for p in spec.properties})
    shown.update({k: v for k, v in values.items() if k.startswith("s_")})
    refused = Outcome(type_name=spec.name, shown=shown, status_code=422)
    if spec.name == "airbyte" and MARKER in form:
        refused.errors = overlay(request, properties, form, properties, {})
        if refused.errors:
            refused.error = "Please fix the fields marked below."
            return refused
    try:
        body = ConnectionIn(
            connection_name=shown["connection_name"].strip(),
            connection_type=spec.name,
            properties=properties,
        )
    except ValidationError:
        refused.errors = {"connection_name": "Give the connection a name (at most 200 characters)."}
        return refused
    settings = request.app.state.settings
    try:
        created = service.create_connection(
            session,
            SecretBox.from_settings(settings),
            scope,
            actor_for(user.principal),
            body,
            request.app.state.clock(),
            LocalPathPolicy.from_settings(settings),
        )
    except InvalidFields as exc:
        session.rollback()
        refused.errors = {loc.split(".")[-1]: msg for loc, msg in exc.errors}
        refused.error = "Please fix the fields marked below."
        return refused
    except HeadwaterError as exc:
        session.rollback()
        refused.error, refused.status_code = exc.message, exc.status_code
        return refused
    return Outcome(connection=created, type_name=spec.name)
