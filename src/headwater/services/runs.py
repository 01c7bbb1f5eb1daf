"""Run lifecycle: trigger (one group in flight per river), transitions, cancel, logs, reaping.

Status transitions are explicit and persisted; a group's status is always derived from its
runs by ``derive_group_status`` so the two can never disagree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict, Unpack

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from headwater.errors import Conflict, InvalidInput, NotFound
from headwater.ids import new_run_id
from headwater.services import webhook_events
from headwater.store.models.runs import FINAL_STATUSES, Run, RunGroup, RunLog

IN_FLIGHT = frozenset({"pending", "running"})
LOST_WORKER_MESSAGE = "worker lost: the process running this run stopped sending heartbeats"


@dataclass(frozen=True)
class TaskPlan:
    """One run to create in a group: a target table, or a sub river of a logic river."""

    task_key: str
    source_name: str | None = None
    target_name: str | None = None
    sub_river_id: str | None = None


@dataclass(frozen=True)
class RiverRef:
    """What triggering needs to know about a river, whatever its storage."""

    account_id: str
    environment_id: str
    river_id: str
    river_type: str


def derive_group_status(statuses: Sequence[str]) -> str:
    """The group's status from its runs' statuses (see the docs' status table)."""
    if not statuses:
        return "succeeded"
    present = set(statuses)
    if present & IN_FLIGHT:
        return "pending" if present == {"pending"} else "running"
    if present == {"skipped"}:
        return "skipped"
    present.discard("skipped")
    if present == {"succeeded"}:
        return "succeeded"
    if present == {"canceled"}:
        return "canceled"
    if "succeeded" in present:
        return "partially succeeded"
    return "failed" if "failed" in present else "canceled"


def trigger_river(
    session: Session,
    river: RiverRef,
    *,
    trigger: str,
    tasks: Sequence[TaskPlan],
    now: datetime,
    variables: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
    trace_context: str | None = None,
) -> RunGroup:
    """Record a new run group; ``skipped`` at once when another group of the river is in flight.

    The group and its runs are built with their ids and inserted by one flush, and the caller
    gets them loaded: a trigger is one of the API's most frequent requests, and each refresh or
    lazy load was another round trip.
    """
    group = _new_group(
        river,
        trigger,
        now,
        variables,
        parent_run_id,
        status="pending",
        in_flight_river_id=river.river_id,
        trace_context=trace_context,
    )
    group.runs = [_new_run(group, task, now, position=i) for i, task in enumerate(tasks)]
    # The conflict rolls back a savepoint only: changes the caller made in the same
    # transaction (the scheduler's claim of the due time) commit with the group or the skip.
    try:
        with session.begin_nested():
            session.add(group)
            session.flush()
    except IntegrityError:
        return _record_skipped(session, river, trigger, tasks, now, variables, parent_run_id)
    if not tasks:
        settle_group(session, group, now)
    session.commit()
    return group


def _new_group(
    river: RiverRef,
    trigger: str,
    now: datetime,
    variables: dict[str, Any] | None,
    parent_run_id: str | None,
    **state: Any,
) -> RunGroup:
    """A run group of ``river`` started now; ``state`` says pending (in flight) or skipped."""
    return RunGroup(
        id=new_run_id(),
        account_id=river.account_id,
        environment_id=river.environment_id,
        river_id=river.river_id,
        river_type=river.river_type,
        trigger=trigger,
        variables=variables or {},
        parent_run_id=parent_run_id,
        start_time=now,
        **state,
    )


def _new_run(
    group: RunGroup, task: TaskPlan, now: datetime, status: str = "pending", position: int = 0
) -> Run:
    return Run(
        run_group_id=group.id,
        account_id=group.account_id,
        environment_id=group.environment_id,
        river_id=group.river_id,
        sub_river_id=task.sub_river_id,
        source_name=task.source_name,
        target_name=task.target_name,
        task_key=task.task_key,
        trigger=group.trigger,
        status=status,
        start_time=now,
        position=position,
    )


def _record_skipped(
    session: Session,
    river: RiverRef,
    trigger: str,
    tasks: Sequence[TaskPlan],
    now: datetime,
    variables: dict[str, Any] | None,
    parent_run_id: str | None,
) -> RunGroup:
    in_flight = session.scalars(
        select(RunGroup).where(RunGroup.in_flight_river_id == river.river_id)
    ).first()
    blocker = f"run group {in_flight.id} ({in_flight.status})" if in_flight else "another run group"
    message = f"Skipped: river {river.river_id} already has {blocker} in flight"
    group = _new_group(
        river,
        trigger,
        now,
        variables,
        parent_run_id,
        status="skipped",
        message=message,
        end_time=now,
    )
    runs = []
    for position, task in enumerate(tasks or [TaskPlan(task_key=river.river_id)]):
        run = _new_run(group, task, now, status="skipped", position=position)
        run.end_time = now
        run.details = {"message": message}
        runs.append(run)
    group.runs = runs
    session.add(group)
    session.commit()
    return group


def settle_group(session: Session, group: RunGroup, now: datetime) -> None:
    """Recompute the group's status and totals from its runs; release the river when final.

    Reads only the columns it needs (a group of hundreds of tables is settled once per run
    start and end). Runs that end at the same moment in other transactions may not be seen
    here; whoever runs them settles the group again once they all ended (``execute``).
    """
    runs = session.execute(
        select(Run.status, Run.units, Run.total_rows, Run.total_size, Run.end_time).where(
            Run.run_group_id == group.id
        )
    ).all()
    group.status = derive_group_status([r.status for r in runs])
    group.units = sum((r.units for r in runs), Decimal(0))
    group.total_rows = sum(r.total_rows for r in runs)
    group.total_size = sum(r.total_size for r in runs)
    if group.status in FINAL_STATUSES:
        ends = [r.end_time for r in runs if r.end_time is not None]
        group.end_time = max(ends) if ends else now
        group.in_flight_river_id = None


def resettle_group(session: Session, run_group_id: str, now: datetime) -> None:
    """Settle a group again from its committed runs, e.g. after runs ended concurrently."""
    settle_group(session, get_group(session, run_group_id), now)
    session.commit()


def get_group(session: Session, run_group_id: str) -> RunGroup:
    group = session.get(RunGroup, run_group_id)
    if group is None:
        raise NotFound(f"Run group {run_group_id} was not found")
    return group


def get_run(session: Session, run_id: str, *, river_id: str | None = None) -> Run:
    run = session.get(Run, run_id)
    if run is None or (river_id is not None and run.river_id != river_id):
        raise NotFound(f"Run {run_id} was not found")
    return run


def mark_running(session: Session, run: Run, *, now: datetime, worker: str) -> bool:
    """pending → running, atomically: False when another worker claimed it or it ended.

    A conditional UPDATE, not read-then-write, so a task delivered twice (broker redelivery
    after a lost worker) can never run the same run twice.
    """
    claimed = session.execute(
        update(Run)
        .where(Run.id == run.id, Run.status == "pending")
        .values(status="running", started_at=now, heartbeat_at=now, worker=worker)
    )
    session.commit()
    if getattr(claimed, "rowcount", 0) != 1:
        session.refresh(run)
        return False
    session.refresh(run)
    group = run.group
    session.refresh(group)
    settle_group(session, group, now)
    session.commit()
    return True


class RunOutcome(TypedDict, total=False):
    """What a finished run reports (all optional: a run that moved nothing reports zeros)."""

    rows: int
    size: int
    units: Decimal
    error: str | None
    details: dict[str, Any] | None


def finish_run(
    session: Session,
    run: Run,
    *,
    status: str,
    now: datetime,
    **outcome: Unpack[RunOutcome],
) -> None:
    """A final transition; failed and canceled runs cost no units."""
    rows = outcome.get("rows", 0)
    size = outcome.get("size", 0)
    units = outcome.get("units", Decimal(0))
    error = outcome.get("error")
    details = outcome.get("details")
    if status not in FINAL_STATUSES:
        raise ValueError(f"not a final status: {status}")
    session.refresh(run)
    if run.status in FINAL_STATUSES:
        return  # already settled elsewhere (e.g. reaped); the first final word stands
    run.status = status
    run.end_time = now
    run.total_rows = rows
    run.total_size = size
    run.units = units if status == "succeeded" else Decimal(0)
    run.error_description = error
    if details:
        run.details = {**run.details, **details}
    settle_group(session, run.group, now)
    session.commit()


def record_progress(session: Session, run_id: str, *, rows: int, size: int, now: datetime) -> None:
    run = session.get(Run, run_id)
    if run is not None and run.status == "running":
        run.total_rows = rows
        run.total_size = size
        run.heartbeat_at = now
        session.commit()


def record_details(session: Session, run_id: str, fields: dict[str, Any], now: datetime) -> None:
    """Merge live figures (a continuous change capture's lag) into a running run's details.

    The first retained-WAL warning of a run also queues the ``cdc.slot_lag`` webhook event
    (``webhook_events``), in the same transaction."""
    run = session.get(Run, run_id)
    if run is not None and run.status == "running":
        first_warning = "cdc_warning" in fields and "cdc_warning" not in run.details
        run.details = {**run.details, **fields}
        if first_warning:
            webhook_events.queue_slot_lag(session, run, now)
        run.heartbeat_at = now
        session.commit()


def heartbeat(session: Session, run_ids: Iterable[str], now: datetime) -> None:
    ids = list(run_ids)
    if not ids:
        return
    for run in session.scalars(select(Run).where(Run.id.in_(ids), Run.status == "running")):
        run.heartbeat_at = now
    session.commit()


def cancel_requested(session: Session, run_group_id: str) -> bool:
    session.expire_all()
    group = session.get(RunGroup, run_group_id)
    return bool(group is None or group.cancel_requested)


def request_cancel(
    session: Session,
    *,
    river_id: str,
    now: datetime,
    run_id: str | None = None,
    run_group_id: str | None = None,
) -> RunGroup:
    """Ask a group to stop: pending runs end at once, running ones within seconds."""
    if bool(run_id) == bool(run_group_id):
        raise InvalidInput("Give exactly one of run_id or run_group_id")
    if run_id:
        group_id = get_run(session, run_id, river_id=river_id).run_group_id
    else:
        group_id = str(run_group_id)
    group = get_group(session, group_id)
    if group.river_id != river_id:
        raise NotFound(f"Run group {group_id} was not found")
    if group.status in FINAL_STATUSES:
        raise Conflict(f"Run group {group.id} already ended with status {group.status}")
    group.cancel_requested = True
    for run in group.runs:
        if run.status == "pending":
            run.status = "canceled"
            run.end_time = now
            run.error_description = "Canceled before it started"
    settle_group(session, group, now)
    session.commit()
    return group


def append_log(session: Session, run_id: str, level: str, message: str, now: datetime) -> None:
    session.add(RunLog(run_id=run_id, level=level.upper(), message=message, logged_at=now))
    session.commit()


def append_logs(
    session: Session, run_id: str, entries: Sequence[tuple[str, str, datetime]]
) -> None:
    """Several ``(level, message, time)`` lines of one run in one transaction."""
    session.add_all(
        RunLog(run_id=run_id, level=level.upper(), message=message, logged_at=at)
        for level, message, at in entries
    )
    session.commit()


def logs_csv(session: Session, run_id: str) -> str:
    """The run's log as CSV with the header ``timestamp,level,msg``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["timestamp", "level", "msg"])
    rows = session.scalars(select(RunLog).where(RunLog.run_id == run_id).order_by(RunLog.id))
    for line in rows:
        writer.writerow([line.logged_at.isoformat(), line.level, line.message])
    return buffer.getvalue()


def fail_lost_runs(session: Session, *, now: datetime, stale_after: timedelta) -> list[str]:
    """Fail running runs whose heartbeat went stale (their worker died); settle their groups."""
    cutoff = now - stale_after
    return _fail_running(session, [Run.heartbeat_at < cutoff], now=now, error=LOST_WORKER_MESSAGE)


def fail_group_runs(session: Session, run_group_id: str, *, now: datetime, error: str) -> list[str]:
    """Fail the running runs of a group whose worker is known to be gone (a local worker
    process that died), without waiting for their heartbeat to go stale."""
    return _fail_running(session, [Run.run_group_id == run_group_id], now=now, error=error)


def has_pending_runs(session: Session, run_group_id: str) -> bool:
    """Whether some run of the group has not started yet (it can still be executed)."""
    found = session.scalar(
        select(Run.id).where(Run.run_group_id == run_group_id, Run.status == "pending").limit(1)
    )
    return found is not None


def _fail_running(
    session: Session, conditions: list[ColumnElement[bool]], *, now: datetime, error: str
) -> list[str]:
    lost = session.scalars(select(Run).where(Run.status == "running", *conditions)).all()
    for run in lost:
        run.status = "failed"
        run.end_time = now
        run.units = Decimal(0)
        run.error_description = error
        session.add(RunLog(run_id=run.id, level="ERROR", message=error, logged_at=now))
    for group_id in {run.run_group_id for run in lost}:
        settle_group(session, get_group(session, group_id), now)
    session.commit()
    return [run.id for run in lost]


def pending_groups(session: Session) -> list[str]:
    """Groups still waiting for an executor (re-submitted after a local server restart)."""
    return list(
        session.scalars(
            select(RunGroup.id).where(RunGroup.status == "pending").order_by(RunGroup.start_time)
        )
    )


def last_groups(session: Session, river_ids: Sequence[str]) -> dict[str, RunGroup]:
    """The newest run group of each river (by start time), for listings."""
    if not river_ids:
        return {}
    newest = (
        select(RunGroup.river_id, func.max(RunGroup.start_time).label("started"))
        .where(RunGroup.river_id.in_(river_ids))
        .group_by(RunGroup.river_id)
        .subquery()
    )
    rows = session.scalars(
        select(RunGroup).join(
            newest,
            (RunGroup.river_id == newest.c.river_id) & (RunGroup.start_time == newest.c.started),
        )
    )
    return {group.river_id: group for group in rows}
