"""What each logic step does: ``sql``, ``river``, ``action``, and the ``run_once``, ``loop`` and
``condition`` containers. The ``dbt`` and ``python`` steps live in ``steps_dbt`` and
``steps_python``; ``_code_step`` hands them the frame.

Steps run in order. A disabled step is recorded as skipped; a failing step fails the run
unless it says ``continue_on_failure`` (its failure is then recorded and logged, and the next
step runs). A parallel loop runs at most ``max_parallel`` iterations at a time on a thread
pool; after the first failed iteration no new iteration starts. Every wait checks the run's
cancel event, so cancelling or timing out a logic run stops it between statements and inside
copies and HTTP retries.
"""

from __future__ import annotations

import contextvars
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from headwater.engine.jobs import TableJob
from headwater.engine.pipeline import run_table_job
from headwater.runner.actions import action_details, run_action
from headwater.runner.context import RunnerContext
from headwater.runner.contracts import RunCanceled, RunJob
from headwater.runner.river_plans import RiverPlan, RunPlan
from headwater.runner.run_records import SecretLog, StepRecorder, SubRuns
from headwater.runner.sql_exec import SqlResult, execute_sql
from headwater.runner.sql_render import render_statement
from headwater.runner.steps_dbt import run_dbt_step
from headwater.runner.steps_python import protected_paths, run_python_step
from headwater.runner.variables import Scope, as_list, matches, plain, render
from headwater.schemas.rivers_actions import ActionsRiver
from headwater.schemas.rivers_logic import (
    ActionStep,
    ConditionContainer,
    DbtStep,
    LogicNode,
    LogicRiver,
    LoopContainer,
    PythonStep,
    RiverStep,
    RunOnceContainer,
    SqlStep,
)
from headwater.security.crypto import MASK

#: Sub rivers running logic rivers running sub rivers...: deeper than this is a cycle that
#: slipped past the save-time check (e.g. two rivers edited at once).
MAX_DEPTH = 10


class StepFailed(Exception):
    """A step failed and did not say to continue; the run fails with this message."""


@dataclass
class Totals:
    """Rows, bytes and units a run (or sub run) moved itself; safe across loop threads."""

    rows: int = 0
    size: int = 0
    units: Decimal = Decimal(0)
    details: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, rows: int, size: int, units: Decimal | float) -> None:
        with self._lock:
            self.rows += rows
            self.size += size
            self.units += Decimal(str(units))


@dataclass(frozen=True)
class Frame:
    """Where steps run: their variables, whose totals they add to, where they log and record."""

    scope: Scope
    totals: Totals
    log: Any
    parent_id: str | None = None
    prefix: str = ""
    iteration: tuple[int, Any] | None = None
    depth: int = 0


@dataclass
class StepResult:
    status: str = "succeeded"
    rows: int = 0
    output: dict[str, Any] = field(default_factory=dict)
    sub_run_id: str | None = None


def _label(step: LogicNode, path: str) -> str:
    return repr(step.name) if step.name else f"{step.type} step {path}"


class LogicExecution:
    def __init__(
        self,
        *,
        context: RunnerContext,
        job: RunJob[RunPlan],
        plan: RunPlan,
        log: SecretLog,
        recorder: StepRecorder,
        sub_runs: SubRuns,
    ) -> None:
        self.context = context
        self.job = job
        self.plan = plan
        self.log = log
        self.recorder = recorder
        self.sub_runs = sub_runs
        self.own = Totals()
        self.steps_run = 0
        self._lock = threading.Lock()

    # -- tree walking ----------------------------------------------------------------------------

    def top_frame(self, scope: Scope) -> Frame:
        return Frame(scope=scope, totals=self.own, log=self.log)

    def run_steps(
        self, steps: list[LogicNode], scope: Scope, *, prefix: str, parent_id: str | None
    ) -> None:
        """Run the logic river's own steps (the entry point of a ``logic`` task)."""
        self._run_list(steps, replace(self.top_frame(scope), prefix=prefix, parent_id=parent_id))

    def _check_cancel(self) -> None:
        if self.job.cancel.is_set():
            raise RunCanceled("Canceled by request")

    def _run_list(self, steps: list[LogicNode], frame: Frame) -> None:
        for index, step in enumerate(steps):
            self._check_cancel()
            self._run_step(step, f"{frame.prefix}{index}", frame)

    def _run_step(self, step: LogicNode, path: str, frame: Frame) -> None:
        label = _label(step, path)
        record_id = self.recorder.start(
            path=path,
            name=step.name,
            step_type=step.type,
            parent_id=frame.parent_id,
            iteration=frame.iteration,
        )
        if not step.is_enabled:
            frame.log("INFO", f"step {label}: disabled, skipped")
            self.recorder.finish(record_id, "skipped", output={"reason": "disabled"})
            return
        with self._lock:
            self.steps_run += 1
        try:
            result = self._dispatch(step, path, record_id, frame)
        except RunCanceled:
            self.recorder.finish(record_id, "canceled", error="Canceled by request")
            raise
        except StepFailed as exc:  # a step inside this container failed
            self._failed(step, label, record_id, str(exc), frame)
            return
        except Exception as exc:
            if self.job.cancel.is_set():
                self.recorder.finish(record_id, "canceled", error="Canceled by request")
                raise RunCanceled("Canceled by request") from exc
            message = self.log.redact(str(exc) or type(exc).__name__)
            output = getattr(exc, "output", None)  # a dbt step's results, kept on failure
            self._failed(
                step,
                label,
                record_id,
                f"step {label} failed: {message}",
                frame,
                output=self._redacted(output) if isinstance(output, dict) else None,
            )
            return
        self.recorder.finish(
            record_id,
            result.status,
            rows=result.rows,
            output=result.output,
            sub_run_id=result.sub_run_id,
        )

    def _failed(
        self,
        step: LogicNode,
        label: str,
        record_id: str,
        message: str,
        frame: Frame,
        *,
        output: dict[str, Any] | None = None,
    ) -> None:
        self.recorder.finish(record_id, "failed", error=message, output=output)
        if step.continue_on_failure:
            frame.log("WARNING", f"{message} (continuing: the step may fail)")
            return
        frame.log("ERROR", message)
        raise StepFailed(message)

    def _dispatch(self, step: LogicNode, path: str, record_id: str, frame: Frame) -> StepResult:
        if isinstance(step, SqlStep):
            return self._sql(step, frame)
        if isinstance(step, RiverStep | ActionStep):
            return self._sub_river(step, path, record_id, frame)
        if isinstance(step, DbtStep | PythonStep):
            return self._code_step(step, path, frame)
        inner = replace(frame, parent_id=record_id, prefix=f"{path}.")
        if isinstance(step, RunOnceContainer):
            self._run_list(step.steps, inner)
            return StepResult(output={"steps": len(step.steps)})
        if isinstance(step, LoopContainer):
            return self._loop(step, inner)
        assert isinstance(step, ConditionContainer)
        actual = frame.scope.get(step.variable)
        matched = matches(step.operator, actual, step.value)
        shown = MASK if frame.scope.is_private(step.variable) else actual
        frame.log("INFO", f"step {_label(step, path)}: condition {'met' if matched else 'not met'}")
        if not matched:
            return StepResult(status="skipped", output={"matched": False, "value": shown})
        self._run_list(step.steps, inner)
        return StepResult(output={"matched": True, "value": shown})

    # -- containers ----------------------------------------------------------------------------

    def _loop(self, step: LoopContainer, inner: Frame) -> StepResult:
        items = as_list(inner.scope.get(step.variable))
        item_name = step.item_variable or step.variable

        def iteration(index: int, value: Any) -> None:
            child = inner.scope.child({item_name: value})
            self._run_list(step.steps, replace(inner, scope=child, iteration=(index, value)))

        output = {"iterations": len(items), "mode": step.mode}
        if step.mode == "sequential" or len(items) < 2:
            for index, value in enumerate(items):
                self._check_cancel()
                iteration(index, value)
            return StepResult(output=output)
        stop = threading.Event()
        errors: list[BaseException] = []

        def guarded(index: int, value: Any) -> None:
            if stop.is_set() or self.job.cancel.is_set():
                return
            try:
                iteration(index, value)
            except BaseException as exc:
                stop.set()
                errors.append(exc)

        workers = min(step.max_parallel, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="headwater-loop") as pool:
            # Each iteration runs in a copy of this context: the run's outbound HTTP policy
            # (``security.ssrf``) applies inside parallel loops too.
            futures = [
                pool.submit(contextvars.copy_context().run, guarded, i, v)
                for i, v in enumerate(items)
            ]
            for future in futures:
                future.result()
        self._check_cancel()
        if errors:
            raise errors[0]
        return StepResult(output={**output, "max_parallel": step.max_parallel})

    # -- steps ---------------------------------------------------------------------------------

    def _sql(self, step: SqlStep, frame: Frame) -> StepResult:
        connection_type, props = self.plan.connection(step.connection_id)
        spec = self.context.registry.get(connection_type)
        # Values become literals of the connection's dialect, never SQL (``sql_render``).
        statement = render_statement(
            step.sql, frame.scope.lookup, spec.capabilities.sql_dialect, connection_type
        )
        if step.target_table:
            table = render(step.target_table, frame.scope)
            job = TableJob(
                source_connector=connection_type,
                source_props=props,
                target_connector=connection_type,
                target_props=props,
                source_query=statement,
                target_table=table,
                target_schema=step.target_schema,
                load_method=step.loading_method,
                load_id=self.job.run_id,
            )
            loaded = run_table_job(
                job,
                cancel=self.job.cancel,
                log=frame.log,
                registry=self.context.registry,
                metering=self.context.metering,
            )
            frame.totals.add(loaded.rows, loaded.bytes, loaded.units)
            return StepResult(
                rows=loaded.rows,
                output={"target_table": loaded.target, "rows": loaded.rows, "bytes": loaded.bytes},
            )
        result = execute_sql(
            self.context.registry, connection_type, props, statement, self.job.cancel
        )
        count = len(result.rows) if result.columns else max(result.affected, 0)
        output: dict[str, Any] = {"rows": count}
        if step.target_variable:
            value = self._variable_value(step.target_variable, result, frame.scope)
            frame.scope.set(step.target_variable, value)
            private = frame.scope.is_private(step.target_variable)
            output.update(variable=step.target_variable, value=MASK if private else value)
        return StepResult(rows=count, output=output)

    def _code_step(self, step: DbtStep | PythonStep, path: str, frame: Frame) -> StepResult:
        frame.log("INFO", f"step {_label(step, path)}: running {step.type}")
        settings = self.context.settings
        if isinstance(step, PythonStep):
            result = run_python_step(
                step,
                frame.scope,
                self.plan,
                log=frame.log,
                cancel=self.job.cancel,
                code_user=settings.code_step_user,
                protected=protected_paths(settings),
            )
            return StepResult(output=self._redacted(result.output))
        dbt = run_dbt_step(
            step,
            frame.scope,
            self.plan,
            settings=settings,
            run_id=self.job.run_id,
            log=frame.log,
            cancel=self.job.cancel,
        )
        return StepResult(rows=dbt.rows, output=self._redacted(dbt.output))

    def _redacted(self, output: dict[str, Any]) -> dict[str, Any]:
        """A code step's output with known secrets masked (a script may return a password)."""
        text = json.dumps(output, default=str)
        redacted = self.log.redact(text)
        return output if redacted == text else dict(json.loads(redacted))

    @staticmethod
    def _variable_value(name: str, result: SqlResult, scope: Scope) -> Any:
        """First column of the result: a list when the variable holds a list (or the result
        has other than one row and the variable is new), else the first value."""
        values = [plain(row[0]) for row in result.rows if row]
        current = scope.get(name) if scope.has(name) else None
        if isinstance(current, list):
            return values
        if scope.has(name) or len(values) == 1:
            return values[0] if values else None
        return values

    def _sub_river(
        self, step: RiverStep | ActionStep, path: str, record_id: str, frame: Frame
    ) -> StepResult:
        river = self.plan.river(step.river_id)
        if frame.depth >= MAX_DEPTH:
            raise ValueError(f"sub rivers nest deeper than {MAX_DEPTH} levels: is there a cycle?")
        sub_run_id = self.sub_runs.create(river)

        def sub_log(level: str, message: str) -> None:
            self.sub_runs.log(sub_run_id, level, message, self.log.redact)

        frame.log("INFO", f"step {_label(step, path)}: running {river.name!r} as run {sub_run_id}")
        sub_frame = replace(
            frame, log=sub_log, parent_id=record_id, prefix=f"{path}.", depth=frame.depth + 1
        )
        try:
            totals = self.run_river_inline(river, sub_frame, sub_run_id)
        except RunCanceled:
            self.sub_runs.finish(sub_run_id, "canceled", error="Canceled by request")
            raise
        except BaseException as exc:
            status = "canceled" if self.job.cancel.is_set() else "failed"
            message = self.log.redact(str(exc) or type(exc).__name__)
            sub_log("ERROR", message)
            self.sub_runs.finish(sub_run_id, status, error=message)
            raise
        sub_log("INFO", f"finished: {totals.rows} rows, {totals.size} bytes")
        self.sub_runs.finish(
            sub_run_id,
            "succeeded",
            rows=totals.rows,
            size=totals.size,
            units=totals.units,
            details=totals.details,
        )
        output = {
            **totals.details,
            "sub_river_id": river.id,
            "sub_run_id": sub_run_id,
            "rows": totals.rows,
            "bytes": totals.size,
            "units": float(totals.units),
        }
        return StepResult(rows=totals.rows, output=output, sub_run_id=sub_run_id)

    def run_river_inline(self, river: RiverPlan, frame: Frame | Scope, load_id: str) -> Totals:
        """Run a whole river here and now; return what it moved (not added to the parent)."""
        if isinstance(frame, Scope):
            frame = self.top_frame(frame)
        totals = Totals()
        model = river.model
        if isinstance(model, ActionsRiver):
            scope = self.plan.sub_scope(river, frame.scope)
            target_def = model.properties.response.target
            target = self.plan.connection(target_def.connection_id) if target_def else None
            result = run_action(
                model,
                target,
                scope,
                cancel=self.job.cancel,
                log=frame.log,
                load_id=load_id,
                on_secret=self.log.add,
                metering=self.context.metering,
            )
            for name, value in result.variables.items():
                frame.scope.set(name, value)  # response variables are known to later steps
            totals.add(result.rows, result.size, result.units)
            totals.details = action_details(result, scope)
        elif isinstance(model, LogicRiver):
            scope = self.plan.sub_scope(river, frame.scope)
            self._run_list(model.properties.steps, replace(frame, scope=scope, totals=totals))
        else:
            tables = []
            for job in river.jobs.values():
                self._check_cancel()
                frame.log("INFO", f"copying {job.source_display()} into {job.target_name()}")
                result_table = run_table_job(
                    replace(job, load_id=load_id),
                    cancel=self.job.cancel,
                    log=frame.log,
                    registry=self.context.registry,
                    metering=self.context.metering,
                )
                totals.add(result_table.rows, result_table.bytes, result_table.units)
                tables.append({"target": result_table.target, "rows": result_table.rows})
            totals.details = {"tables": tables}
        return totals
