"""``headwater run --local``: execute a river in this process, with a live progress table."""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.live import Live

from headwater.cli.common import fail, open_metadata
from headwater.runner.context import RunnerContext
from headwater.runner.execute import execute_run_group
from headwater.schemas.runs import RunOut
from headwater.services.triggering import start_river
from headwater.store.base import utcnow
from headwater.store.models.rivers import River
from headwater.store.models.runs import FINAL_STATUSES, RunGroup


def run_local(river_id: str, console: Console, timeout: float) -> str:
    from headwater.cli.run import _table

    metadata = open_metadata()
    context = RunnerContext(settings=metadata.settings, sessions=metadata.sessions, clock=utcnow)
    with metadata.sessions() as session:
        river = session.get(River, river_id)
        if river is None:
            raise fail(f"river {river_id} was not found")
        group = start_river(session, river, trigger="api", now=utcnow(), submit=lambda _id: None)
        group_id = group.id
    console.print(f"run group {group_id}: {group.status}")
    worker = threading.Thread(target=execute_run_group, args=(context, group_id), daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout
    status = group.status
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            with metadata.sessions() as session:
                current = session.get_one(RunGroup, group_id)
                status = current.status
                live.update(
                    _table([RunOut.from_run(r).model_dump(mode="json") for r in current.runs])
                )
            if status in FINAL_STATUSES or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    worker.join(timeout=5)
    metadata.engine.dispose()
    console.print(f"final status: {status}")
    return status
