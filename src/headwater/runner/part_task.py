"""The Celery task of one part (``runner/parts.py``): rebuild the table job, claim, load.

Kept apart from ``parts`` because it needs the handlers (to prepare the river the way the
run did), and the source-to-target handler imports ``parts``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from headwater.engine.jobs import TableJob
from headwater.runner.context import RunnerContext
from headwater.runner.handlers import HANDLERS
from headwater.runner.parts import claim_next, execute_part
from headwater.security import local_paths
from headwater.security.local_paths import LocalPathPolicy
from headwater.security.redact import Redactor
from headwater.security.ssrf import OutboundPolicy, reset_policy, set_policy
from headwater.store.models.runs import Run, RunGroup


def run_part(context: RunnerContext, run_id: str, number: int) -> None:
    """Do part ``number`` of the run unless it is committed, owned by a live worker, or the
    run is no longer running (a redelivered task is then a no-op)."""
    with context.sessions() as session:
        run = session.get(Run, run_id)
        if run is None or run.status != "running" or not run.task_key:
            return
        group = session.get_one(RunGroup, run.run_group_id)
        handler = HANDLERS.get(group.river_type)
        if handler is None:
            return
        prepared = handler.prepare(context, session, group)
        task_key = run.task_key
    jobs: Any = prepared.definition
    if not isinstance(jobs, dict) or not isinstance(jobs.get(task_key), TableJob):
        return
    table_job = replace(jobs[task_key], load_id=run_id)
    policy = set_policy(OutboundPolicy.from_settings(context.settings))
    paths = local_paths.set_policy(LocalPathPolicy.from_settings(context.settings))
    try:
        took = claim_next(context, run_id, prepared.max_attempts, only=number)
        if took is not None:
            execute_part(
                context,
                table_job,
                run_id,
                *took,
                prepared.max_attempts,
                Redactor(prepared.secrets),
            )
    finally:
        local_paths.reset_policy(paths)
        reset_policy(policy)
