"""The run page: a run group's per-table progress and log, updated live by polling.

A logic run's page also lists its steps (status, rows, duration, error), with each ``dbt``
step's per-node results and each ``python`` step's return value.

``.../rivers/{river_id}/runs/{run_id}`` renders the page; ``.../status.json`` answers the
page's script once a second with the group's status, each run's rows and bytes, and the log
lines after the cursor it last saw, so polling stays cheap however long the log grows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from headwater.api.deps import SessionDep
from headwater.errors import NotFound
from headwater.services import logic_runs, rivers, run_parts, run_views
from headwater.services import runs as run_service
from headwater.services.envscope import EnvScope
from headwater.store.models.runs import FINAL_STATUSES, Run, RunGroup, RunLog
from headwater.web import queries
from headwater.web.auth import ConsoleUser, console_action, console_page
from headwater.web.render import fmt_bytes, fmt_time, render, river_url

router = APIRouter(include_in_schema=False)
RUN = "/console/accounts/{account_id}/environments/{environment_id}/rivers/{river_id}/runs/{run_id}"


def _load(session: SessionDep, scope: EnvScope, river_id: str, run_id: str) -> tuple[Any, Run]:
    river = rivers.get_river(session, scope, river_id)
    run = run_service.get_run(session, run_id, river_id=river_id)
    if run.environment_id != scope.environment_id:
        raise NotFound(f"Run {run_id} was not found")
    return river, run


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "source": run.source_name,
        "target": run.target_name,
        "status": run.status,
        "rows": run.total_rows,
        "bytes": run.total_size,
        "size": fmt_bytes(run.total_size),
        "units": str(run.units),
        "error": run.error_description or run.details.get("message") or "",
        "started": fmt_time(run.started_at),
        "ended": fmt_time(run.end_time),
        "lag": cdc_lag(run.details),
    }


def cdc_lag(details: dict[str, Any]) -> str:
    """A change capture run's lag (``cdc_lag_seconds``/``cdc_lag_bytes``), else empty."""
    if "cdc_lag_seconds" not in details:
        return ""
    seconds = details.get("cdc_lag_seconds") or 0
    behind = details.get("cdc_lag_bytes")
    return f"lag {seconds:.1f} s" + (f", {fmt_bytes(behind)} behind" if behind else "")


def log_json(line: RunLog, targets: dict[str, str]) -> dict[str, Any]:
    return {
        "id": line.id,
        "at": line.logged_at.strftime("%H:%M:%S"),
        "level": line.level,
        "message": line.message,
        "table": targets.get(line.run_id, ""),
    }


def throughput(group: RunGroup, now: datetime) -> str:
    """Rows per second so far (to the end of a finished group), for the live page."""
    start = group.start_time if group.start_time.tzinfo else group.start_time.replace(tzinfo=UTC)
    end = group.end_time or now
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    seconds = (end - start).total_seconds()
    if seconds <= 0 or not group.total_rows:
        return "—"
    return f"{group.total_rows / seconds:,.0f} rows/s"


def status_json(group: RunGroup, logs: list[RunLog], now: datetime) -> dict[str, Any]:
    targets = {r.id: r.target_name or r.source_name or "" for r in group.runs}
    return {
        "throughput": throughput(group, now),
        "run_group_id": group.id,
        "status": group.status,
        "final": group.status in FINAL_STATUSES,
        "message": group.message or "",
        "rows": group.total_rows,
        "size": fmt_bytes(group.total_size),
        "units": str(group.units),
        "started": fmt_time(group.start_time),
        "ended": fmt_time(group.end_time),
        "runs": [run_json(r) for r in group.runs],
        "log": [log_json(line, targets) for line in logs],
    }


def steps_view(session: SessionDep, run: Run) -> list[dict[str, Any]]:
    """The logic run's step records as the page shows them (empty for other runs)."""
    shown = []
    for step in logic_runs.step_runs(session, run.id):
        output = step.output or {}
        duration = None
        if step.ended_at is not None and step.started_at is not None:
            duration = round((step.ended_at - step.started_at).total_seconds(), 2)
        shown.append(
            {
                "path": step.path,
                "name": step.name,
                "type": step.step_type,
                "status": step.status,
                "rows": step.rows,
                "duration": duration,
                "error": step.error or "",
                "results": output.get("results") if step.step_type == "dbt" else None,
                "output_json": json.dumps(output.get("result"), indent=2, default=str)
                if step.step_type == "python" and "result" in output
                else None,
            }
        )
    return shown


@router.get(RUN)
def run_page(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    run_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_page("activities:list")),
) -> HTMLResponse:
    scope = EnvScope(account_id, environment_id)
    river, run = _load(session, scope, river_id, run_id)
    group = run.group
    logs = queries.group_logs(session, [r.id for r in group.runs])
    base = river_url(account_id, environment_id, river_id)
    context = {
        "title": f"Run of {river.name}",
        "river": river,
        "run": run,
        "group": group,
        "state": status_json(group, logs, request.app.state.clock()),
        "river_url": base,
        "status_url": f"{base}/runs/{run_id}/status.json",
        "cursor": logs[-1].id if logs else 0,
        "steps": steps_view(session, run) if river.river_type == "logic" else [],
        "parts": [run_views.part_out(p) for p in run_parts.list_parts(session, run.id)],
    }
    return render(request, "run.html", context)


@router.get(f"{RUN}/status.json")
def run_status(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    run_id: str,
    session: SessionDep,
    after: int = 0,
    user: ConsoleUser = Depends(console_page("activities:list")),
) -> dict[str, Any]:
    scope = EnvScope(account_id, environment_id)
    _river, run = _load(session, scope, river_id, run_id)
    group = run.group
    logs = queries.group_logs(session, [r.id for r in group.runs], after=max(0, after))
    return status_json(group, logs, request.app.state.clock())


@router.post(f"{RUN}/cancel")
def run_cancel(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    run_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("river:execute")),
) -> RedirectResponse:
    scope = EnvScope(account_id, environment_id)
    _load(session, scope, river_id, run_id)
    run_service.request_cancel(
        session, river_id=river_id, now=request.app.state.clock(), run_id=run_id
    )
    url = river_url(account_id, environment_id, river_id)
    return RedirectResponse(f"{url}/runs/{run_id}", status_code=303)
