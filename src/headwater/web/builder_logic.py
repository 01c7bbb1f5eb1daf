"""The logic-river step editor: New logic flow and Edit for logic rivers, without JSON.

An ordered list of steps (SQL on a connection, run a data flow, run an action, condition,
loop, run once) with add, remove, reorder and nesting, plus variables and a schedule. Saving
sends the API's body through ``parse_body`` and ``services.rivers`` (versions, audit, the same
messages, shown next to the step they concern).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from headwater.api.deps import SessionDep
from headwater.errors import InvalidInput
from headwater.services import connections as connection_service
from headwater.services import rivers
from headwater.services.envscope import EnvScope
from headwater.store.models import River
from headwater.web.auth import ConsoleUser, console_action, console_page, form_data
from headwater.web.builder_logic_form import (
    DBT_COMMANDS,
    MAX_LEVEL,
    OPERATORS,
    STEP_TYPES,
    LogicState,
    StepRow,
    build_body,
    field_errors,
    state_from_definition,
    state_from_form,
)
from headwater.web.builder_review import review_or_save, saved_definition
from headwater.web.builder_schedule import next_fires, zone_names
from headwater.web.render import env_base, render, river_url

router = APIRouter(include_in_schema=False)
ENV = "/console/accounts/{account_id}/environments/{environment_id}"
TYPE_LABELS = {
    "sql": "SQL",
    "river": "Run a data flow",
    "action": "Run an action",
    "condition": "Condition",
    "loop": "Loop",
    "run_once": "Group (run once)",
    "dbt": "dbt (build, run, test...)",
    "python": "Python function",
}


def _page(
    request: Request,
    session: Session,
    scope: EnvScope,
    state: LogicState,
    *,
    river: River | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    found, _total = rivers.list_rivers(session, scope, limit=500)
    base = env_base(scope.account_id, scope.environment_id)
    rows = [*state.steps, StepRow()]  # one blank row: fill it in to add a step
    context: dict[str, Any] = {
        "title": f"Edit {river.name}" if river else "New logic flow",
        "river": river,
        "action": f"{river_url(scope.account_id, scope.environment_id, river.id)}/edit-logic"
        if river
        else f"{base}/rivers/new-logic",
        "state": state,
        "rows": rows,
        "connections": connection_service.list_connections(session, scope),
        "rivers": [r for r in found if river is None or r.id != river.id],
        "types": TYPE_LABELS,
        "step_types": STEP_TYPES,
        "dbt_commands": DBT_COMMANDS,
        "operators": OPERATORS,
        "max_level": MAX_LEVEL,
        "fires": next_fires(state.get("cron"), request.app.state.clock(), state.get("timezone")),
        "zones": zone_names(),
        "errors": errors or {},
    }
    return render(request, "builder_logic.html", context, status_code=status_code)


@router.get(f"{ENV}/rivers/new-logic")
def logic_new(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_page("river:write")),
) -> HTMLResponse:
    return _page(request, session, EnvScope(account_id, environment_id), LogicState())


def _submit(
    request: Request,
    session: Session,
    scope: EnvScope,
    user: ConsoleUser,
    form: FormData,
    river: River | None = None,
) -> Response:
    state = state_from_form(form)
    saved = saved_definition(river)
    built = build_body(state, keep=saved)
    if str(form.get("action", "")) != "save":
        return _page(request, session, scope, state, river=river)
    return review_or_save(
        request,
        session,
        scope,
        user,
        (built.body, saved, river),
        save=True,
        to_fields=lambda pairs: field_errors(pairs, built.places),
        render=lambda **page: _page(request, session, scope, state, river=river, **page),
    )


@router.post(f"{ENV}/rivers/new-logic")
def logic_create(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("river:write")),
    form: FormData = Depends(form_data),
) -> Response:
    return _submit(request, session, EnvScope(account_id, environment_id), user, form)


def _logic_river(session: Session, scope: EnvScope, river_id: str) -> River:
    river = rivers.get_river(session, scope, river_id)
    if river.river_type != "logic":
        raise InvalidInput("This data flow is not a logic flow; use Edit on its page")
    return river


def edit_page(request: Request, session: Session, scope: EnvScope, river: River) -> HTMLResponse:
    """The editor filled in from a saved logic river (``GET .../edit`` of a logic river)."""
    state = state_from_definition(rivers.river_out(river).model_dump(mode="json"))
    return _page(request, session, scope, state, river=river)


@router.post(f"{ENV}/rivers/{{river_id}}/edit-logic")
def logic_update(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("river:write")),
    form: FormData = Depends(form_data),
) -> Response:
    scope = EnvScope(account_id, environment_id)
    river = _logic_river(session, scope, river_id)
    return _submit(request, session, scope, user, form, river=river)
