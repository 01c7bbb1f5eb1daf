"""Connections: list, a create form generated from the type's properties, test and delete.

The form is built from the same connector catalogue the API validates against, so a new
connector (or plugin) gets a console form without console changes; secret properties are
password inputs and are never rendered back, not even after a failed submit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from headwater.api.deps import SessionDep
from headwater.errors import Conflict
from headwater.schemas.connections import ConnectionTestResult
from headwater.security.crypto import SecretBox
from headwater.security.local_paths import LocalPathPolicy
from headwater.security.ssrf import OutboundPolicy
from headwater.services import connection_types
from headwater.services import connections as service
from headwater.services.auth import actor_for
from headwater.services.envscope import EnvScope
from headwater.web.auth import ConsoleUser, console_action, console_page, form_data
from headwater.web.connection_form import create_from_form, fields_for
from headwater.web.connection_spec_edit import MARKER, spec_form_context
from headwater.web.render import env_base, render

router = APIRouter(include_in_schema=False)
ENV = "/console/accounts/{account_id}/environments/{environment_id}"
NOTICES = {
    "created": "The connection was created. Test it to check that Headwater can reach it.",
    "deleted": "The connection was deleted.",
    "updated": "The connection was saved. Test it to check that Headwater can reach it.",
}


def _box(request: Request) -> SecretBox:
    return SecretBox.from_settings(request.app.state.settings)


def _paths(request: Request) -> LocalPathPolicy:
    return LocalPathPolicy.from_settings(request.app.state.settings)


def _list(
    request: Request,
    session: Session,
    scope: EnvScope,
    *,
    notice: str = "",
    error: str = "",
    tested: tuple[str, ConnectionTestResult] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    found = service.list_connections(session, scope)
    context: dict[str, Any] = {
        "title": "Connections",
        "connections": found,
        "used_by": {c.id: service.rivers_using(session, c.id) for c in found},
        "types": {s.name: s.title for s in connection_types.all_specs()},
        "notice": notice,
        "error": error,
        "tested_id": tested[0] if tested else "",
        "tested": tested[1] if tested else None,
    }
    return render(request, "connections.html", context, status_code=status_code)


@router.get(f"{ENV}/connections")
def connection_list(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    notice: str = "",
    user: ConsoleUser = Depends(console_page("connection:list")),
) -> HTMLResponse:
    scope = EnvScope(account_id, environment_id)
    return _list(request, session, scope, notice=NOTICES.get(notice, ""))


def _form(
    request: Request,
    type_name: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    spec = connection_types.find_spec(type_name) if type_name else None
    package = (values or {}).get("package", "")
    spec_form = None
    if spec is not None and spec.name == "airbyte" and package:
        source = {"package": package, "config": (values or {}).get("config", "")}
        spec_form = spec_form_context(request, source, set(), values, errors or {})
    context = {
        "title": "New connection",
        "specs": connection_types.all_specs(),
        "spec": spec,
        "fields": fields_for(spec, values, errors),
        "name": (values or {}).get("connection_name", ""),
        "name_error": (errors or {}).get("connection_name", ""),
        "error": error,
        "spec_form": spec_form,
        "spec_marker": MARKER,
        "package": package,
    }
    return render(request, "connection_new.html", context, status_code=status_code)


@router.get(f"{ENV}/connections/new")
def connection_new(
    request: Request,
    account_id: str,
    environment_id: str,
    type: str = "",
    package: str = "",
    user: ConsoleUser = Depends(console_page("connection:edit")),
) -> HTMLResponse:
    """``?type=airbyte&package=…`` adds the form generated from that package's spec."""
    values = {"package": package.strip()[:200]} if package.strip() else None
    return _form(request, type, values=values)


@router.post(f"{ENV}/connections")
def connection_create(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("connection:edit")),
    form: FormData = Depends(form_data),
) -> Response:
    """Validate with the same service as the API; field errors are shown beside the fields."""
    scope = EnvScope(account_id, environment_id)
    outcome = create_from_form(request, session, scope, user, form)
    if outcome.connection is None:
        return _form(
            request,
            outcome.type_name,
            values=outcome.shown,
            errors=outcome.errors,
            error=outcome.error,
            status_code=outcome.status_code,
        )
    return RedirectResponse(
        f"{env_base(account_id, environment_id)}/connections?notice=created", status_code=303
    )


@router.post(f"{ENV}/connections/{{connection_id}}/test")
def connection_test(
    request: Request,
    account_id: str,
    environment_id: str,
    connection_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("connection:edit")),
) -> HTMLResponse:
    """Really connect; the result (ok, or the reason it failed) is shown on the list."""
    scope = EnvScope(account_id, environment_id)
    # The deployment's outbound policy, as the API's test uses (``security.ssrf``).
    policy = OutboundPolicy.from_settings(request.app.state.settings)
    result = service.check_connection(
        session, _box(request), scope, connection_id, policy, paths=_paths(request)
    )
    return _list(request, session, scope, tested=(connection_id, result))


@router.post(f"{ENV}/connections/{{connection_id}}/delete")
def connection_delete(
    request: Request,
    account_id: str,
    environment_id: str,
    connection_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("connection:delete")),
) -> Response:
    scope = EnvScope(account_id, environment_id)
    try:
        service.delete_connection(
            session, scope, actor_for(user.principal), connection_id, request.app.state.clock()
        )
    except Conflict as exc:
        session.rollback()
        message = (
            f"{exc.message}. Delete those data flows or point them at another connection first."
        )
        return _list(request, session, scope, error=message, status_code=409)
    return RedirectResponse(
        f"{env_base(account_id, environment_id)}/connections?notice=deleted", status_code=303
    )
