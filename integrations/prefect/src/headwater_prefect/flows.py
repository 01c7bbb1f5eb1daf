"""``run_river_flow``: a ready-made flow that runs one river and reports its tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import flow

from headwater_prefect.credentials import HeadwaterCredentials
from headwater_prefect.tasks import trigger_river, wait_for_run_group


@flow(name="headwater-run-river")
def run_river_flow(
    credentials: HeadwaterCredentials,
    river: str,
    variables: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    poll_interval: float = 5.0,
) -> dict[str, Any]:
    """Trigger ``river``, wait for it, and return its run group id, status and rows per table.
    The flow fails with the runs' error descriptions when the river does not succeed."""
    started = trigger_river(credentials, river, variables)
    group = wait_for_run_group(
        credentials, started.river_id, started.run_group_id, timeout, poll_interval
    )
    return {
        "run_group_id": group.run_group_id,
        "status": group.status,
        "rows": {run.target_name or run.run_id: run.total_rows for run in group.runs},
        "units": group.units,
    }
