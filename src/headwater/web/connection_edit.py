"""Connections, continued: edit (secrets shown as set or unset, never their value), test from
the edit page, and a discovery preview of the schemas' tables a source connection sees.

Saving goes through ``services.connections.replace_connection`` like ``PUT .../connections``:
an empty secret field sends the API's mask back, which keeps the stored value.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from headwater.api.deps import SessionDep
from headwater.errors import HeadwaterError, InvalidFields
from headwater.schemas.connections import ConnectionIn, ConnectionTestResult
from headwater.security.crypto import MASK, SecretBox
from headwater.security.local_paths import LocalPathPolicy
from headwater.security.ssrf import OutboundPolicy
from headwater.services import connection_types, discovery
from headwater.services import connections as service
from headwater.services.auth import actor_for
from headwater.services.envscope import EnvScope
from headwater.store.models import Connection
from headwater.web.auth import ConsoleUser, console_action, console_page, form_data
from headwater.web.connection_spec_edit import MARKER, spec_context, spec_overlay
from headwater.web.render import env_base, render

router = APIRouter(include_in_schema=False)
CONN = "/console/accounts/{account_id}/environments/{environment_id}/connections/{connection_id}"


def _fields(
    connection: Connection, values: dict[str, str] | None, errors: dict[str, str]
) -> list[dict[str, Any]]:
    spec = connection_types.find_spec(connection.connection_type)
    fields = []
    for prop in spec.properties if spec else ():
        secret = connection_types.is_secret(prop)
        stored = connection.properties.get(prop.name)
        value = (values or {}).get(prop.name, "" if stored is None else str(stored))
        fields.append(
            {
                "name": prop.name,
                "label": prop.name.replace("_", " ").capitalize(),
                "input": "password"
                if secret
                else {"integer": "number", "boolean": "checkbox"}.get(prop.type, "text"),
                "secret": secret,
                "is_set": prop.name in connection.secrets,
                "value": "" if secret else value,
                "description": prop.description,
                "error": errors.get(prop.name, ""),
            }
        )
    return fields


def _page(
    request: Request,
    connection: Connection,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    tested: ConnectionTestResult | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    spec = connection_types.find_spec(connection.connection_type)
    context = {
        "title": f"Edit {connection.name}",
        "connection": connection,
        "spec": spec,
        "fields": _fields(connection, values, errors or {}),
        "name": (values or {}).get("connection_name", connection.name),
        "name_error": (errors or {}).get("connection_name", ""),
        "error": error,
        "tested": tested,
        "can_discover": spec is not None and "source" in spec.roles,
        "spec_form": spec_context(request, connection, values, errors or {}),
        "spec_marker": MARKER,
    }
    return render(request, "connection_edit.html", context, status_code=status_code)


@router.get(f"{CONN}/edit")
def connection_edit(
    request: Request,
    account_id: str,
    environment_id: str,
    connection_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_page("connection:edit")),
) -> HTMLResponse:
    scope = EnvScope(account_id, environment_id)
    return _page(request, service.get_connection(session, scope, connection_id))


def _save(
    request: Request, session: Session, scope: EnvScope, user: ConsoleUser, form: FormData, c: Any
) -> Response:
    spec = connection_types.find_spec(c.connection_type)
    if spec is None:
        return _page(request, c, error="This connection type is not installed.", status_code=422)
    properties: dict[str, Any] = {}
    shown = {"connection_name": str(form.get("connection_name", ""))}
    for prop in spec.properties:
        raw = str(form.get(f"p_{prop.name}", ""))
        shown[prop.name] = raw
        if prop.type == "boolean":
            properties[prop.name] = f"p_{prop.name}" in form
        elif connection_types.is_secret(prop) and raw == "" and prop.name in c.secrets:
            if f"clear_{prop.name}" not in form:
                properties[prop.name] = MASK  # keep the stored secret, as the API does
        elif raw != "":
            properties[prop.name] = raw
    shown.update({k: str(v) for k, v in form.items() if k.startswith("s_")})
    field_errors = spec_overlay(request, c, form, properties)
    if field_errors:
        message = "Please fix the fields marked below."
        return _page(request, c, values=shown, errors=field_errors, error=message, status_code=422)
    try:
        body = ConnectionIn(
            connection_name=shown["connection_name"].strip(),
            connection_type=spec.name,
            properties=properties,
        )
    except ValidationError:
        errors = {"connection_name": "Give the connection a name (at most 200 characters)."}
        return _page(request, c, values=shown, errors=errors, status_code=422)
    try:
        service.replace_connection(
            session,
            SecretBox.from_settings(request.app.state.settings),
            scope,
            actor_for(user.principal),
            c.id,
            body,
            request.app.state.clock(),
            LocalPathPolicy.from_settings(request.app.state.settings),
        )
    except InvalidFields as exc:
        session.rollback()
        errors = {loc.split(".")[-1]: msg for loc, msg in exc.errors}
        message = "Please fix the fields marked below."
        return _page(request, c, values=shown, errors=errors, error=message, status_code=422)
    except HeadwaterError as exc:
        session.rollback()
        return _page(request, c, values=shown, error=exc.message, status_code=exc.status_code)
    base = env_base(scope.account_id, scope.environment_id)
    return RedirectResponse(f"{base}/connections?notice=updated", status_code=303)


@router.post(f"{CONN}/edit")
def connection_update(
    request: Request,
    account_id: str,
    environment_id: str,
    connection_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("connection:edit")),
    form: FormData = Depends(form_data),
) -> Response:
    scope = EnvScope(account_id, environment_id)
    connection = service.get_connection(session, scope, connection_id)
    return _save(request, session, scope, user, form, connection)


@router.get(f"{CONN}/discover")
def connection_discover(
    request: Request,
    account_id: str,
    environment_id: str,
    connection_id: str,
    session: SessionDep,
    schema: str = "",
    user: ConsoleUser = Depends(console_page("connection:edit")),
) -> HTMLResponse:
    """What the connection sees: the tables of a schema with their columns (a real connect)."""
    scope = EnvScope(account_id, environment_id)
    connection = service.get_connection(session, scope, connection_id)
    settings = request.app.state.settings
    found = discovery.discover(
        session,
        SecretBox.from_settings(settings),
        scope,
        connection_id,
        schema=schema.strip()[:200] or None,
        outbound=OutboundPolicy.from_settings(settings),
        paths=LocalPathPolicy.from_settings(settings),
    )
    context = {
        "title": f"Tables of {connection.name}",
        "connection": connection,
        "discovery": found,
        "schema": schema,
    }
    return render(request, "connection_discover.html", context)
