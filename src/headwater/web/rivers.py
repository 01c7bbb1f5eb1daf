"""Data flows (rivers): the list with search and filters, the detail page, enable/disable, Run.

Page URLs carry the ids as plain path segments, the way the hosted console does, so a user can
copy the account, environment and river ids straight from the address bar into API calls:
``/console/accounts/{account_id}/environments/{environment_id}/rivers/{river_id}``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from headwater.api.deps import SessionDep
from headwater.errors import HeadwaterError, InvalidInput
from headwater.security.crypto import SecretBox
from headwater.services import river_groups, river_versions, rivers, triggering
from headwater.services.auth import actor_for
from headwater.services.cdc_slots import (
    captures_changes,
    drops_by_default,
    release_change_capture,
)
from headwater.services.envscope import EnvScope
from headwater.store.models.rivers import RIVER_STATUSES, RIVER_TYPES
from headwater.web import queries
from headwater.web.auth import ConsoleUser, console_action, console_page
from headwater.web.render import render, river_url
from headwater.web.run_chart import runs_chart

router = APIRouter(include_in_schema=False)
ENV = "/console/accounts/{account_id}/environments/{environment_id}"
TYPE_LABELS = {"src_to_trgt": "Source to target", "logic": "Logic", "actions": "Action"}
NOTICES = {
    "active": "The data flow is enabled: schedules and Run work again.",
    "disabled": "The data flow is disabled: its schedule will not fire and Run is refused.",
    "created": "The data flow was saved (version 1). Press Run now to move the data.",
    "updated": "Your changes were saved as a new version. Press Run now to run it.",
    "copied": "This copy was created disabled: check it, then Enable it.",
    "slot_dropped": "The data flow is disabled and its replication slot was dropped: the "
    "next run takes a new snapshot.",
    "slot_failed": "The data flow is disabled, but its replication slot could not be dropped "
    "(see the server log); drop it at the source.",
}
LIST_LIMIT = 500
RECENT_RUNS = 20


def schedule_text(cron: str | None, enabled: bool) -> str:
    if not cron:
        return "not scheduled"
    return cron if enabled else f"{cron} (paused)"


@router.get(f"{ENV}/rivers")
def river_list(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    q: str = "",
    type: str = "",
    group: str = "",
    status: str = "",
    user: ConsoleUser = Depends(console_page("river:list")),
) -> HTMLResponse:
    scope = EnvScope(account_id, environment_id)
    found, total = rivers.list_rivers(
        session,
        scope,
        name=q.strip() or None,
        group_id=group or None,
        river_type=type if type in RIVER_TYPES else None,
        limit=LIST_LIMIT,
    )
    if status in RIVER_STATUSES:
        found = [r for r in found if r.status == status]
    groups = river_groups.list_groups(session, scope)
    context: dict[str, Any] = {
        "title": "Data flows",
        "rivers": found,
        "total": total,
        "truncated": total > LIST_LIMIT,
        "last": queries.last_groups(session, environment_id, [r.id for r in found]),
        "groups": groups,
        "group_names": {g.id: g.name for g in groups},
        "types": TYPE_LABELS,
        "statuses": RIVER_STATUSES,
        "filters": {"q": q, "type": type, "group": group, "status": status},
        "filtered": bool(q or type or group or status),
        "schedule_text": schedule_text,
    }
    return render(request, "rivers.html", context)


def _detail(
    request: Request,
    session: SessionDep,
    scope: EnvScope,
    river_id: str,
    *,
    notice: str = "",
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    river = rivers.get_river(session, scope, river_id)
    shown = rivers.river_out(river)
    groups = queries.recent_groups(session, scope.environment_id, river_id, limit=RECENT_RUNS)
    group = river_groups.get_group(session, scope, river.group_id) if river.group_id else None
    context: dict[str, Any] = {
        "title": river.name,
        "river": river,
        "shown": shown,
        "definition": json.dumps(shown.model_dump(mode="json"), indent=2, sort_keys=False),
        "versions": river_versions.list_versions(session, scope, river_id),
        "variables": shown.variables,
        "groups": groups,
        "runs_chart": Markup(runs_chart(groups)),  # numbers and escaped text only
        "group": group,
        "type_label": TYPE_LABELS.get(river.river_type, river.river_type),
        "schedule": schedule_text(river.cron_expression, river.schedule_enabled),
        "river_url": river_url(scope.account_id, scope.environment_id, river_id),
        "notice": notice,
        "error": error,
        "captures_changes": captures_changes(river.definition),
        "drops_slot": drops_by_default(river.definition),
    }
    return render(request, "river.html", context, status_code=status_code)


def river_page_with_error(
    request: Request, session: SessionDep, scope: EnvScope, river_id: str, exc: HeadwaterError
) -> HTMLResponse:
    """The river page with a refused action's message (e.g. a copy to another environment)."""
    return _detail(
        request, session, scope, river_id, error=exc.message, status_code=exc.status_code
    )


@router.get(f"{ENV}/rivers/{{river_id}}")
def river_detail(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    notice: str = "",
    user: ConsoleUser = Depends(console_page("river:list")),
) -> HTMLResponse:
    scope = EnvScope(account_id, environment_id)
    return _detail(request, session, scope, river_id, notice=NOTICES.get(notice, ""))


@router.post(f"{ENV}/rivers/{{river_id}}/run")
def river_run(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("river:execute")),
) -> Response:
    """Start a run group and open its run page; a refusal is shown on the river page."""
    scope = EnvScope(account_id, environment_id)
    river = rivers.get_river(session, scope, river_id)
    try:
        group = triggering.start_river(
            session,
            river,
            trigger="console",
            now=request.app.state.clock(),
            submit=request.app.state.executor.submit,
        )
    except HeadwaterError as exc:
        session.rollback()
        return _detail(
            request, session, scope, river_id, error=exc.message, status_code=exc.status_code
        )
    first = group.runs[0].id if group.runs else None
    base = river_url(account_id, environment_id, river_id)
    target = f"{base}/runs/{first}" if first else base
    return RedirectResponse(target, status_code=303)


@router.post(f"{ENV}/rivers/{{river_id}}/status")
def river_status(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    status: str = Form(...),
    slot_choice: str | None = Form(None),
    drop_slot: str | None = Form(None),
    user: ConsoleUser = Depends(console_action("river:edit")),
) -> RedirectResponse:
    """Enable or disable; disabling a change capture river drops its replication slot when
    "Drop the replication slot" is ticked (``slot_choice`` says the box was on the form:
    an unticked box sends nothing), through the same service as the API."""
    if status not in RIVER_STATUSES:
        raise InvalidInput(f"Unknown status {status!r}; choose active or disabled")
    scope = EnvScope(account_id, environment_id)
    river = rivers.set_status(
        session,
        scope,
        actor_for(user.principal),
        river_id,
        status,
        request.app.state.clock(),
    )
    notice = status
    if status != "active":
        box = SecretBox.from_settings(request.app.state.settings)
        drop = None if slot_choice is None else drop_slot is not None
        done = release_change_capture(session, box, river.id, dict(river.definition), drop)
        if done is not None:
            notice = "slot_dropped" if done == "change capture slot dropped" else "slot_failed"
    url = river_url(account_id, environment_id, river_id)
    return RedirectResponse(f"{url}?notice={notice}", status_code=303)
