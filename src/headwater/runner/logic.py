"""The logic-river handler: run a tree of steps inside one run, recording what each did.

A logic run executes its sub rivers inline (no separate run group), so one group holds the
logic run and, positioned after it, one run per executed ``river``/``action`` step with
``sub_river_id`` set: activities show them under the parent with their own rows, units and
status. The ``sub:<river_id>`` task runs one sub river on its own as the run itself.

This module holds the handler; the records (step runs, sub runs, final variables) are in
``run_records`` and the step semantics in ``logic_steps``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from headwater.runner.context import RunnerContext
from headwater.runner.contracts import Outcome, PreparedRiver, RunJob
from headwater.runner.logic_steps import LogicExecution
from headwater.runner.river_plans import RunPlan, load_plan
from headwater.runner.run_records import SecretLog, StepRecorder, SubRuns, save_variables
from headwater.schemas.rivers_logic import LogicRiver
from headwater.security.crypto import SecretBox
from headwater.store.models.runs import RunGroup


def _now(context: RunnerContext) -> datetime:
    return context.clock()


class LogicHandler:
    """``task_key`` ``logic``: the whole tree; ``sub:<river_id>``: that sub river alone."""

    def prepare(
        self, context: RunnerContext, session: Session, group: RunGroup
    ) -> PreparedRiver[RunPlan]:
        box = SecretBox.from_settings(context.settings)
        plan = load_plan(session, box, group)
        if not isinstance(plan.root.model, LogicRiver):
            raise ValueError(f"river {plan.root.id} is not a logic river")
        return PreparedRiver(
            timeout_seconds=float(plan.root.model.settings.run_timeout_seconds),
            secrets=tuple(plan.secrets),
            definition=plan,
        )

    def run(self, context: RunnerContext, job: RunJob[RunPlan]) -> Outcome:
        plan = job.river.definition
        scope = plan.base_scope(
            plan.root, run_id=job.run_id, run_group_id=job.run_group_id, now=_now(context)
        )
        log = SecretLog(job.log, plan.secrets)
        with SubRuns(context, job.run_group_id) as sub_runs:
            execution = LogicExecution(
                context=context,
                job=job,
                plan=plan,
                log=log,
                recorder=StepRecorder(context, job.run_id),
                sub_runs=sub_runs,
            )
            try:
                if job.task_key and job.task_key.startswith("sub:"):
                    sub_id = job.sub_river_id or job.task_key.removeprefix("sub:")
                    totals = execution.run_river_inline(plan.river(sub_id), scope, job.run_id)
                    return Outcome(
                        rows=totals.rows,
                        size=totals.size,
                        units=totals.units,
                        details={"sub_river_id": sub_id},
                    )
                root = plan.root.model
                assert isinstance(root, LogicRiver)
                execution.run_steps(root.properties.steps, scope, prefix="", parent_id=None)
                own = execution.own
                return Outcome(
                    rows=own.rows,
                    size=own.size,
                    units=own.units,
                    details={"steps": execution.steps_run},
                )
            finally:
                save_variables(context, job.run_id, scope)
