"""Wire views of run records: ORM rows in, the API's response models out.

The schemas (``schemas/``) describe the wire and never import the store; this is where a
stored run, run group or step record becomes what a client sees, for the API, the console and
the CLI alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from headwater.schemas.logic_runs import LogicStepOut, RunVariablesOut
from headwater.schemas.run_control import (
    LegacyRun,
    LegacyTaskStatus,
    RunTriggered,
    TriggeredRun,
    legacy_status,
)
from headwater.schemas.runs import RunOut, RunPartOut, exact_epoch_ms, round_units
from headwater.store.models.logic import LogicStepRun, RunVariables
from headwater.store.models.run_parts import RunPart
from headwater.store.models.runs import Run, RunGroup


def part_out(part: RunPart) -> RunPartOut:
    seconds = None
    if part.started_at is not None and part.finished_at is not None:
        seconds = round((part.finished_at - part.started_at).total_seconds(), 3)
    return RunPartOut(
        part=part.part,
        lower=part.bounds.get("lower"),
        upper=part.bounds.get("upper"),
        column=part.bounds.get("column"),
        status=part.status,
        worker=part.worker,
        rows=part.rows,
        attempts=part.attempts,
        seconds=seconds,
        error=part.error,
    )


def run_out(run: Run, parts: Sequence[RunPart] = ()) -> RunOut:
    """The v1 shape of one run."""
    return RunOut(
        run_id=run.id,
        run_group_id=run.run_group_id,
        river_id=run.river_id,
        sub_river_id=run.sub_river_id,
        is_sub_river_run=run.sub_river_id is not None,
        source_name=run.source_name,
        target_name=run.target_name,
        status=run.status,
        error_description=run.error_description,
        units=round_units(run.units),
        total_rows=run.total_rows,
        total_size=run.total_size,
        start_date_utc=run.start_time,
        end_date_utc=run.end_time,
        start_date_in_milliseconds=exact_epoch_ms(run.start_time),
        end_date_in_milliseconds=exact_epoch_ms(run.end_time) if run.end_time else 0,
        trigger=run.trigger,
        cdc_lag_seconds=run.details.get("cdc_lag_seconds"),
        cdc_lag_bytes=run.details.get("cdc_lag_bytes"),
        cdc_retained_bytes=run.details.get("cdc_retained_bytes"),
        parts=[part_out(p) for p in parts],
    )


def run_triggered(group: RunGroup) -> RunTriggered:
    """The 202 answer for a just-recorded run group."""
    return RunTriggered(
        river_cross_id=group.river_id,
        run_group_id=group.id,
        status=group.status,
        runs=[
            TriggeredRun(
                run_id=run.id,
                status=run.status,
                message=run.details.get("message") or run.error_description,
                sub_river_id=run.sub_river_id,
            )
            for run in group.runs
        ],
    )


def legacy_run(group: RunGroup) -> LegacyRun:
    """The legacy ``/api/run`` / ``/api/check_run`` shape of a run group."""
    runs: list[Run] = list(group.runs)
    errors = [r.error_description for r in runs if r.error_description]
    updates = [t for r in runs for t in (r.started_at, r.end_time, r.heartbeat_at) if t]
    return LegacyRun(
        run_id=group.id,
        river_id=group.river_id,
        account=group.account_id,
        river_run_status=legacy_status(group.status),
        river_run_message=group.message or "; ".join(errors) or group.status,
        run_insert_date=group.start_time,
        run_update_date=max([group.start_time, *updates]),
        run_end_date=group.end_time,
        tasks_status=[
            LegacyTaskStatus(
                task_id=r.id,
                target_name=r.target_name,
                status=r.status,
                river_run_status=legacy_status(r.status),
                error_description=r.error_description,
            )
            for r in runs
        ],
    )


def logic_step_out(record: LogicStepRun) -> LogicStepOut:
    """One recorded step execution, as the API shows it."""
    duration = (record.ended_at - record.started_at).total_seconds() if record.ended_at else None
    return LogicStepOut(
        step_run_id=record.id,
        sequence=record.sequence,
        path=record.path,
        parent_step_run_id=record.parent_id,
        name=record.name,
        type=record.step_type,
        status=record.status,
        iteration_index=record.iteration_index,
        iteration_value=record.iteration_value,
        sub_run_id=record.sub_run_id,
        started_at=record.started_at,
        ended_at=record.ended_at,
        duration_seconds=duration,
        rows=record.rows,
        output=record.output,
        error=record.error,
    )


def run_variables_out(river_id: str, run_id: str, record: RunVariables | None) -> RunVariablesOut:
    """A run's variables as stored (private values already masked), or none yet."""
    if record is None:
        return RunVariablesOut(
            run_id=run_id, river_id=river_id, variables={}, private=[], updated_at=None
        )
    return RunVariablesOut(
        run_id=run_id,
        river_id=river_id,
        variables=record.values,
        private=[str(name) for name in record.private_names],
        updated_at=record.updated_at,
    )
