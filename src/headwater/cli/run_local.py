"""``headwater run`` on the machine that holds the metadata DB: no server, no token.

The command acts as the account's first admin (as ``apply`` and ``tokens create`` do), finds
the river by id or name, records an audit event for the trigger, and executes the run group in
this process with a live progress table. The executor claims the group atomically, so a server
or scheduler running beside it cannot run the same group twice.
"""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.live import Live

from headwater.cli.acting import acting_as_first_admin, environment_scope
from headwater.cli.common import fail, open_metadata
from headwater.cli.progress import run_table
from headwater.errors import HeadwaterError
from headwater.runner.context import RunnerContext
from headwater.runner.execute import execute_run_group
from headwater.services import run_views
from headwater.services.audit import record
from headwater.services.auth import actor_for
from headwater.services.rivers import resolve_river
from headwater.services.triggering import start_river
from headwater.store.base import utcnow
from headwater.store.models.runs import FINAL_STATUSES, RunGroup


def _trigger(river: str, environment: str | None) -> str:
    """Record the run group as the first admin, audited; its id."""
    with acting_as_first_admin() as ctx:
        scope = environment_scope(ctx, environment)
        try:
            found = resolve_river(ctx.session, scope, river)
            group = start_river(
                ctx.session, found, trigger="api", now=utcnow(), submit=lambda _id: None
            )
        except HeadwaterError as exc:
            raise fail(exc.message) from None
        ctx.session.flush()
        record(
            ctx.session,
            account_id=found.account_id,
            environment_id=found.environment_id,
            actor=actor_for(ctx.principal),
            action="river.run",
            entity_type="river",
            entity_id=found.id,
            details={"via": "cli", "run_group_id": group.id, "status": group.status},
        )
        ctx.session.commit()
        return group.id


def run_local(river: str, environment: str | None, console: Console, timeout: float) -> str:
    """Trigger ``river`` (id or name) and execute it here; its final status."""
    group_id = _trigger(river, environment)
    metadata = open_metadata(upgrade=False)
    context = RunnerContext(settings=metadata.settings, sessions=metadata.sessions, clock=utcnow)
    with metadata.sessions() as session:
        status = session.get_one(RunGroup, group_id).status
    console.print(f"run group {group_id}: {status}")
    worker = threading.Thread(target=execute_run_group, args=(context, group_id), daemon=True)
    if status not in FINAL_STATUSES:
        worker.start()
    deadline = time.monotonic() + timeout
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            with metadata.sessions() as session:
                current = session.get_one(RunGroup, group_id)
                status = current.status
                live.update(
                    run_table([run_views.run_out(r).model_dump(mode="json") for r in current.runs])
                )
            if status in FINAL_STATUSES or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    if worker.is_alive():
        worker.join(timeout=5)
    metadata.engine.dispose()
    return status
