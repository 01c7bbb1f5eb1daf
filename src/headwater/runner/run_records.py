"""Records of a logic or action run while it goes: step runs, sub runs, final variables,
and the run log with redaction of secrets obtained on the way.

Shared by the logic handler, its step semantics (``logic_steps``) and the action handler.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from typing import Any, Unpack

from sqlalchemy import func, select

from headwater.runner.context import RunnerContext
from headwater.runner.river_plans import RiverPlan
from headwater.runner.variables import Scope
from headwater.security.redact import Redactor
from headwater.services import runs as run_service
from headwater.services.runs import RunOutcome
from headwater.store.models.logic import LogicStepRun, RunVariables
from headwater.store.models.runs import Run, RunGroup


class SecretLog:
    """``job.log`` plus redaction of secrets obtained while running (OAuth access tokens)."""

    def __init__(self, log: Callable[[str, str], None], secrets: Iterable[str] = ()) -> None:
        self._log = log
        self._secrets: set[str] = set(secrets)
        self._redactor = Redactor(self._secrets)
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        with self._lock:
            self._secrets.add(secret)
            self._redactor = Redactor(self._secrets)

    def redact(self, text: str) -> str:
        return self._redactor.redact(text)

    def __call__(self, level: str, message: str) -> None:
        self._log(level, self._redactor.redact(message))


def save_variables(context: RunnerContext, run_id: str, scope: Scope) -> None:
    """Store the run's variables as they are now, private values masked."""
    values = scope.masked()
    private = sorted(name for name in values if scope.is_private(name))
    with context.sessions() as session:
        row = session.get(RunVariables, run_id)
        if row is None:
            row = RunVariables(run_id=run_id)
            session.add(row)
        row.values = values
        row.private_names = list(private)
        row.updated_at = context.clock()
        session.commit()


class StepRecorder:
    """Writes one ``LogicStepRun`` per step execution, numbered in start order."""

    def __init__(self, context: RunnerContext, run_id: str) -> None:
        self.context = context
        self.run_id = run_id
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    def start(
        self,
        *,
        path: str,
        name: str,
        step_type: str,
        parent_id: str | None,
        iteration: tuple[int, Any] | None,
        status: str = "running",
    ) -> str:
        with self._lock:
            sequence = next(self._sequence)
        now = self.context.clock()
        with self.context.sessions() as session:
            record = LogicStepRun(
                run_id=self.run_id,
                sequence=sequence,
                path=path,
                parent_id=parent_id,
                name=name,
                step_type=step_type,
                status=status,
                iteration_index=iteration[0] if iteration else None,
                iteration_value=iteration[1] if iteration else None,
                started_at=now,
                ended_at=None if status == "running" else now,
            )
            session.add(record)
            session.commit()
            return record.id

    def finish(
        self,
        record_id: str,
        status: str,
        *,
        rows: int = 0,
        output: dict[str, Any] | None = None,
        error: str | None = None,
        sub_run_id: str | None = None,
    ) -> None:
        with self.context.sessions() as session:
            record = session.get_one(LogicStepRun, record_id)
            record.status = status
            record.ended_at = self.context.clock()
            record.rows = rows
            record.output = output or {}
            record.error = error
            if sub_run_id is not None:
                record.sub_run_id = sub_run_id
            session.commit()


class SubRuns:
    """Runs recorded in the parent's group for sub rivers executed inline, kept alive by a
    heartbeat (the group monitor only beats for the runs the executor started)."""

    def __init__(self, context: RunnerContext, run_group_id: str) -> None:
        self.context = context
        self.run_group_id = run_group_id
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="headwater-subruns", daemon=True)

    def __enter__(self) -> SubRuns:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        interval = self.context.heartbeat_interval.total_seconds()
        while not self._stop.wait(interval):
            with self._lock:
                active = list(self._active)
            if not active:
                continue
            try:
                with self.context.sessions() as session:
                    run_service.heartbeat(session, active, self.context.clock())
            except Exception:  # the next beat retries; the reaper allows several misses
                continue

    def create(self, river: RiverPlan) -> str:
        now = self.context.clock()
        with self.context.sessions() as session:
            group = session.get_one(RunGroup, self.run_group_id)
            position = session.scalar(
                select(func.max(Run.position)).where(Run.run_group_id == group.id)
            )
            run = Run(
                run_group_id=group.id,
                account_id=group.account_id,
                environment_id=group.environment_id,
                river_id=group.river_id,
                sub_river_id=river.id,
                source_name=river.name,
                target_name=None,
                task_key=f"sub:{river.id}",
                trigger=group.trigger,
                status="running",
                start_time=now,
                started_at=now,
                heartbeat_at=now,
                worker=self.context.worker_name,
                position=(position or 0) + 1,
            )
            session.add(run)
            session.flush()
            run_service.settle_group(session, group, now)
            session.commit()
            run_id = run.id
        with self._lock:
            self._active.add(run_id)
        return run_id

    def finish(
        self,
        run_id: str,
        status: str,
        **outcome: Unpack[RunOutcome],
    ) -> None:
        with self._lock:
            self._active.discard(run_id)
        with self.context.sessions() as session:
            run = session.get_one(Run, run_id)
            run_service.finish_run(session, run, status=status, now=self.context.clock(), **outcome)

    def log(self, run_id: str, level: str, message: str, redact: Callable[[str], str]) -> None:
        with self.context.sessions() as session:
            run_service.append_log(session, run_id, level, redact(message), self.context.clock())
