"""The action-river form: New action and Edit for action rivers, without JSON.

Method, URL, headers (credential headers shown as set or not set), body, river variables and
the variables read from the response. ``Review`` shows the definition, or its diff against the
saved version; ``Save`` sends the API's body through ``parse_body`` and ``services.rivers``
(versions, audit, the same messages, shown next to the field they concern).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from headwater.api.deps import SessionDep
from headwater.errors import InvalidInput
from headwater.services import rivers
from headwater.services.envscope import EnvScope
from headwater.store.models import River
from headwater.web.auth import ConsoleUser, console_action, console_page, form_data
from headwater.web.builder_action_form import (
    BODY_TYPES,
    METHODS,
    ActionState,
    HeaderRow,
    build_body,
    field_errors,
    state_from_definition,
    state_from_form,
)
from headwater.web.builder_review import review_or_save, saved_definition
from headwater.web.render import env_base, render, river_url

router = APIRouter(include_in_schema=False)
ENV = "/console/accounts/{account_id}/environments/{environment_id}"


def _page(
    request: Request,
    state: ActionState,
    *,
    scope: EnvScope,
    river: River | None = None,
    errors: dict[str, str] | None = None,
    review: str = "",
    diff: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    base = env_base(scope.account_id, scope.environment_id)
    context: dict[str, Any] = {
        "title": f"Edit {river.name}" if river else "New action",
        "river": river,
        "action": f"{river_url(scope.account_id, scope.environment_id, river.id)}/edit-action"
        if river
        else f"{base}/rivers/new-action",
        "state": state,
        "headers": [*state.headers, HeaderRow()],  # one blank row: fill it in to add a header
        "methods": METHODS,
        "body_types": BODY_TYPES,
        "errors": errors or {},
        "review": review,
        "diff": diff,
    }
    return render(request, "builder_action.html", context, status_code=status_code)


@router.get(f"{ENV}/rivers/new-action")
def action_new(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    duplicate: str = "",
    user: ConsoleUser = Depends(console_page("river:write")),
) -> HTMLResponse:
    """The empty form, or (``duplicate=<river id>``) a copy of an action to save as new. A
    copy never carries the original's credential headers: they show as not set, to fill in."""
    scope = EnvScope(account_id, environment_id)
    if not duplicate:
        state = ActionState(values={"method": "GET", "body_type": "none"})
        return _page(request, state, scope=scope)
    original = rivers.get_river(session, scope, duplicate)
    if original.river_type != "actions":
        raise InvalidInput("This data flow is not an action; use Duplicate on its page")
    state = state_from_definition(rivers.river_out(original).model_dump(mode="json"))
    state.values["name"] = f"Copy of {original.name}"[:200]
    for header in state.headers:
        header.stored = False
    return _page(request, state, scope=scope)


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
    if built.errors:
        return _page(request, state, scope=scope, river=river, errors=built.errors, status_code=422)
    headers = [h.name for h in state.headers]
    return review_or_save(
        request,
        session,
        scope,
        user,
        (built.body, saved, river),
        save=str(form.get("action", "")) == "save",
        to_fields=lambda pairs: field_errors(pairs, headers),
        render=lambda **page: _page(request, state, scope=scope, river=river, **page),
    )


@router.post(f"{ENV}/rivers/new-action")
def action_create(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("river:write")),
    form: FormData = Depends(form_data),
) -> Response:
    return _submit(request, session, EnvScope(account_id, environment_id), user, form)


def edit_page(request: Request, session: Session, scope: EnvScope, river: River) -> HTMLResponse:
    """The form filled in from a saved action river (``GET .../edit`` of an action river)."""
    state = state_from_definition(rivers.river_out(river).model_dump(mode="json"))
    return _page(request, state, scope=scope, river=river)


@router.post(f"{ENV}/rivers/{{river_id}}/edit-action")
def action_update(
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
    if river.river_type != "actions":
        raise InvalidInput("This data flow is not an action; use Edit on its page")
    return _submit(request, session, scope, user, form, river=river)
