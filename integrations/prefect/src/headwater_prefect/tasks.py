"""Prefect tasks: trigger a river, wait for its run group, cancel it, or all in one.

Each task returns the run group as ``headwater_client.RunGroup``; a run group that does not
succeed fails the task (``RunFailed``, carrying each failed run's ``error_description``) unless
``raise_on_failure=False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater_client import CancelAnswer, RunGroup
from prefect import get_run_logger, task

from headwater_prefect.credentials import HeadwaterCredentials


@task(name="headwater-trigger-river", retries=0)
def trigger_river(
    credentials: HeadwaterCredentials, river: str, variables: Mapping[str, Any] | None = None
) -> RunGroup:
    """Start a run group of ``river`` (id or exact name) and return it at once."""
    with credentials.get_client() as client:
        group = client.rivers.run(river, variables=variables)
    get_run_logger().info("Started run group %s of river %s", group.run_group_id, river)
    return group


@task(name="headwater-wait-for-run-group")
def wait_for_run_group(
    credentials: HeadwaterCredentials,
    river: str,
    run_group_id: str,
    timeout: float | None = None,
    poll_interval: float = 5.0,
    raise_on_failure: bool = True,
) -> RunGroup:
    """Poll the run group until it ends; ``WaitTimeout`` past ``timeout`` seconds."""
    with credentials.get_client() as client:
        group = client.run_groups.wait(
            river,
            run_group_id,
            timeout=timeout,
            poll_interval=poll_interval,
            raise_on_failure=raise_on_failure,
        )
    get_run_logger().info("Run group %s %s: %s rows", run_group_id, group.status, group.total_rows)
    return group


@task(name="headwater-cancel-run-group")
def cancel_run_group(
    credentials: HeadwaterCredentials, river: str, run_group_id: str
) -> CancelAnswer:
    with credentials.get_client() as client:
        return client.rivers.cancel(river, run_group_id=run_group_id)


@task(name="headwater-run-river")
def run_river(
    credentials: HeadwaterCredentials,
    river: str,
    variables: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    poll_interval: float = 5.0,
    raise_on_failure: bool = True,
) -> RunGroup:
    """Run ``river`` and wait for its run group in one task."""
    with credentials.get_client() as client:
        group = client.rivers.run(
            river,
            variables=variables,
            wait=True,
            timeout=timeout,
            poll_interval=poll_interval,
            raise_on_failure=raise_on_failure,
        )
    get_run_logger().info(
        "Run group %s %s: %s rows", group.run_group_id, group.status, group.total_rows
    )
    return group
