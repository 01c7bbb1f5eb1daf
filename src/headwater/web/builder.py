"""The data-flow builder: New data flow, Edit (with a diff against the saved version) and
Duplicate, for source-to-target rivers, without writing JSON.

One server-rendered form: connections, the schema browser (the source's discovery, with the
column types the target will create), per-table load and extract settings, schedule and
notifications. ``Review`` shows the definition (or its diff) with any errors; ``Save`` sends the
same body as ``POST``/``PUT .../rivers`` through ``api.bodies.parse_body`` and
``services.rivers``, so versions, audit and every message are the API's own.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from headwater.api.deps import SessionDep
from headwater.security.crypto import SecretBox
from headwater.security.local_paths import LocalPathPolicy
from headwater.security.ssrf import OutboundPolicy
from headwater.services import connection_types, discovery, rivers
from headwater.services import connections as connection_service
from headwater.services.envscope import EnvScope
from headwater.web import builder_action, builder_logic
from headwater.web.auth import ConsoleUser, console_action, console_page, form_data
from headwater.web.builder_form import (
    EXTRACT_METHODS,
    LOAD_METHODS,
    BuilderState,
    build_body,
    field_errors,
    state_from_definition,
    state_from_form,
)
from headwater.web.builder_review import review_or_save, saved_definition
from headwater.web.builder_schedule import PRESETS, next_fires, zone_error, zone_names
from headwater.web.render import env_base, render, river_url

router = APIRouter(include_in_schema=False)
ENV = "/console/accounts/{account_id}/environments/{environment_id}"


def _box(request: Request) -> SecretBox:
    return SecretBox.from_settings(request.app.state.settings)


def _discover(
    request: Request, session: Session, scope: EnvScope, state: BuilderState
) -> discovery.Discovery:
    """The source's tables, plus any table the form holds that discovery did not list (a
    saved river whose table is gone keeps it until the user unticks it)."""
    if not state.get("source_id"):
        return discovery.Discovery()
    settings = request.app.state.settings
    found = discovery.discover(
        session,
        _box(request),
        scope,
        state.get("source_id"),
        schema=state.get("schema") or None,
        target_id=state.get("target_id"),
        outbound=OutboundPolicy.from_settings(settings),
        paths=LocalPathPolicy.from_settings(settings),
    )
    listed = {t.name for t in found.tables}
    for choice in state.tables.values():
        if choice.name not in listed and choice.selected:
            found.tables.append(discovery.TableView(choice.schema or None, choice.name, ()))
    return found


def _page(
    request: Request,
    session: Session,
    scope: EnvScope,
    state: BuilderState,
    *,
    river: Any = None,
    errors: dict[str, str] | None = None,
    review: str = "",
    diff: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    connections = connection_service.list_connections(session, scope)
    roles = {s.name: s.roles for s in connection_types.all_specs()}
    found = _discover(request, session, scope, state)
    base = env_base(scope.account_id, scope.environment_id)
    context: dict[str, Any] = {
        "title": f"Edit {river.name}" if river else "New data flow",
        "river": river,
        "action": f"{river_url(scope.account_id, scope.environment_id, river.id)}/edit"
        if river
        else f"{base}/rivers/new",
        "state": state,
        "sources": [c for c in connections if "source" in roles.get(c.connection_type, ())],
        "targets": [c for c in connections if "target" in roles.get(c.connection_type, ())],
        "discovery": found,
        "connection_specs": [
            s for s in connection_types.all_specs() if {"source", "target"} & set(s.roles)
        ],
        "load_methods": LOAD_METHODS,
        "extract_methods": EXTRACT_METHODS,
        "presets": PRESETS,
        "zones": zone_names(),
        "fires": next_fires(state.get("cron"), request.app.state.clock(), state.get("timezone")),
        "errors": errors or {},
        "review": review,
        "diff": diff,
    }
    return render(request, "builder.html", context, status_code=status_code)


@router.get(f"{ENV}/rivers/new")
def builder_new(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    source_id: str = "",
    target_id: str = "",
    schema: str = "",
    duplicate: str = "",
    user: ConsoleUser = Depends(console_page("river:write")),
) -> HTMLResponse:
    """The empty builder, or (``duplicate=<river id>``) a copy of a river to save as new."""
    scope = EnvScope(account_id, environment_id)
    if duplicate:
        original = rivers.get_river(session, scope, duplicate)
        shown = rivers.river_out(original).model_dump(mode="json")
        state = state_from_definition(shown)
        state.values["name"] = f"Copy of {original.name}"[:200]
        return _page(request, session, scope, state)
    state = BuilderState(
        values={"source_id": source_id, "target_id": target_id, "schema": schema.strip()}
    )
    return _page(request, session, scope, state)


@router.get(f"{ENV}/rivers/schedule.json")
def schedule_preview(
    request: Request,
    account_id: str,
    environment_id: str,
    cron: str = "",
    tz: str = "UTC",
    user: ConsoleUser = Depends(console_page("river:list")),
) -> dict[str, Any]:
    """The next five fire times, for the schedule editor's live preview (the scheduler's own
    function, in the chosen time zone); ``error`` is the API's message for an unknown zone."""
    zone = tz[:64]
    return {
        "fires": next_fires(cron[:200], request.app.state.clock(), zone),
        "error": zone_error(zone),
    }


def _submit(
    request: Request,
    session: Session,
    scope: EnvScope,
    user: ConsoleUser,
    form: FormData,
    river: Any = None,
) -> Response:
    state = state_from_form(form, form.getlist)
    action = str(form.get("action", "review"))
    found = _discover(request, session, scope, state)
    saved = saved_definition(river)
    built = build_body(state, found.tables, keep=saved, file_tables=found.file_tables)
    if action == "browse":
        return _page(request, session, scope, state, river=river)
    return review_or_save(
        request,
        session,
        scope,
        user,
        (built.body, saved, river),
        save=action == "save",
        to_fields=lambda pairs: field_errors(pairs, built.places),
        render=lambda **page: _page(request, session, scope, state, river=river, **page),
    )


@router.post(f"{ENV}/rivers/new")
def builder_create(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("river:write")),
    form: FormData = Depends(form_data),
) -> Response:
    return _submit(request, session, EnvScope(account_id, environment_id), user, form)


@router.get(f"{ENV}/rivers/{{river_id}}/edit")
def builder_edit(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_page("river:write")),
) -> HTMLResponse:
    scope = EnvScope(account_id, environment_id)
    river = rivers.get_river(session, scope, river_id)
    if river.river_type == "logic":
        return builder_logic.edit_page(request, session, scope, river)
    if river.river_type == "actions":
        return builder_action.edit_page(request, session, scope, river)
    state = state_from_definition(rivers.river_out(river).model_dump(mode="json"))
    return _page(request, session, scope, state, river=river)


@router.post(f"{ENV}/rivers/{{river_id}}/edit")
def builder_update(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("river:write")),
    form: FormData = Depends(form_data),
) -> Response:
    scope = EnvScope(account_id, environment_id)
    river = rivers.get_river(session, scope, river_id)
    return _submit(request, session, scope, user, form, river=river)
