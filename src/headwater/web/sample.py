"""First data in five minutes: ``Load the sample data`` and the result page of a run.

The empty Data flows page offers one button; it makes the sample connection and river
(``services.sample_data``), starts the run and lands on the live run page, which links to
``.../rivers/{id}/result`` when the run has succeeded: rows per table and the first rows,
read back from the target through its own connector.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from headwater.api.deps import SessionDep
from headwater.connectors.base import ReadRequest, TableRef
from headwater.errors import Forbidden, HeadwaterError
from headwater.security import local_paths
from headwater.security.crypto import SecretBox
from headwater.security.local_paths import LocalPathPolicy
from headwater.services import connection_types, rivers, sample_data, triggering
from headwater.services.auth import actor_for
from headwater.services.connections import decrypted_properties, get_connection
from headwater.services.envscope import EnvScope
from headwater.store.models import River
from headwater.web import queries
from headwater.web.auth import ConsoleUser, console_action, console_page
from headwater.web.render import render, river_url

router = APIRouter(include_in_schema=False)
ENV = "/console/accounts/{account_id}/environments/{environment_id}"
PREVIEW_ROWS = 10
#: Also needed to make the sample's connection and start its run.
EXTRA_SCOPES = ("connection:edit", "river:execute")


@router.post(f"{ENV}/sample")
def load_sample(
    request: Request,
    account_id: str,
    environment_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_action("river:write")),
) -> RedirectResponse:
    missing = [s for s in EXTRA_SCOPES if s not in user.principal.scopes]
    if missing:
        raise Forbidden(f"Loading the sample data also needs {', '.join(missing)}")
    settings = request.app.state.settings
    scope = EnvScope(account_id, environment_id)
    now = request.app.state.clock()
    policy = LocalPathPolicy.from_settings(settings)
    river = sample_data.load_sample(
        session,
        SecretBox.from_settings(settings),
        scope,
        actor_for(user.principal),
        now,
        settings.local_root_paths()[0],
        policy,
    )
    group = triggering.start_river(
        session, river, trigger="console", now=now, submit=request.app.state.executor.submit
    )
    base = river_url(account_id, environment_id, river.id)
    return RedirectResponse(f"{base}/runs/{group.runs[0].id}", status_code=303)


def _preview(
    session: Session, request: Request, river: River, target_name: str
) -> tuple[list[str], list[list[str]], str]:
    """Column names and the first rows of a loaded table, or why they cannot be shown."""
    target_id = river.definition.get("properties", {}).get("target", {}).get("connection_id")
    scope = EnvScope(river.account_id, river.environment_id)
    connection = get_connection(session, scope, str(target_id))
    spec = connection_types.find_spec(connection.connection_type)
    if spec is None or "source" not in spec.roles:
        return [], [], "This target cannot be read back by Headwater."
    schema, _, name = target_name.rpartition(".")
    settings = request.app.state.settings
    box = SecretBox.from_settings(settings)
    token = local_paths.set_policy(LocalPathPolicy.from_settings(settings))
    try:
        source = connection_types.registry().open_source(
            spec.name, decrypted_properties(box, connection)
        )
        try:
            table = source.describe(TableRef(name, schema or None))
            batches = source.read(ReadRequest(columns=table.columns, table=table.ref))
            first = next(iter(batches), None)
        finally:
            source.close()
    except Exception as exc:  # shown on the page: the run itself succeeded
        return [], [], f"The table could not be read back: {type(exc).__name__}"
    finally:
        local_paths.reset_policy(token)
    names = [c.name for c in table.columns]
    if first is None:
        return names, [], ""
    rows = pa.Table.from_batches([first]).slice(0, PREVIEW_ROWS).to_pylist()
    return names, [["" if r[n] is None else str(r[n]) for n in names] for r in rows], ""


@router.get(f"{ENV}/rivers/{{river_id}}/result")
def run_result(
    request: Request,
    account_id: str,
    environment_id: str,
    river_id: str,
    session: SessionDep,
    user: ConsoleUser = Depends(console_page("river:list")),
) -> HTMLResponse:
    """The latest run's tables: rows loaded and the first rows in the target."""
    scope = EnvScope(account_id, environment_id)
    river = rivers.get_river(session, scope, river_id)
    groups = queries.recent_groups(session, environment_id, river_id, limit=1)
    tables: list[dict[str, Any]] = []
    for run in groups[0].runs if groups else []:
        if not run.target_name or run.status != "succeeded":
            continue
        try:
            columns, rows, problem = _preview(session, request, river, run.target_name)
        except HeadwaterError as exc:
            columns, rows, problem = [], [], exc.message
        tables.append(
            {
                "name": run.target_name,
                "rows": run.total_rows,
                "columns": columns,
                "first": rows,
                "problem": problem,
            }
        )
    context = {
        "title": f"Result of {river.name}",
        "river": river,
        "group": groups[0] if groups else None,
        "tables": tables,
        "river_url": river_url(account_id, environment_id, river_id),
        "preview_rows": PREVIEW_ROWS,
    }
    return render(request, "result.html", context)
