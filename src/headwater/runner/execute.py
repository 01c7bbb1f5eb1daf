"""Execute one run group: each pending run through the handler of the river's type."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from headwater.connectors.reuse import reusing
from headwater.runner.context import RunnerContext
from headwater.runner.contracts import Handler, Outcome, PreparedRiver, RunJob
from headwater.runner.handlers import HANDLERS
from headwater.runner.monitor import GroupMonitor
from headwater.runner.run_log import RunLogWriter
from headwater.security import local_paths
from headwater.security.local_paths import LocalPathPolicy
from headwater.security.redact import Redactor
from headwater.security.ssrf import OutboundPolicy, reset_policy, set_policy
from headwater.services import runs as run_service
from headwater.services import tracing
from headwater.store.models.runs import FINAL_STATUSES, Run, RunGroup

logger = logging.getLogger(__name__)

PROGRESS_SECONDS = 1.0
MAX_RETRY_DELAY_SECONDS = 300.0


def retry_delay(prepared: PreparedRiver[Any], attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential."""
    return min(prepared.retry_delay_seconds * 2.0 ** (attempt - 1), MAX_RETRY_DELAY_SECONDS)


def is_transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "transient", False))


def execute_run_group(context: RunnerContext, run_group_id: str) -> None:
    """Run every pending run of the group; never raises for a run's own failure."""
    with context.sessions() as session:
        group = session.get(RunGroup, run_group_id)
        if group is None or group.status in FINAL_STATUSES:
            return
        handler = HANDLERS.get(group.river_type)
        run_ids = [r.id for r in group.runs if r.status == "pending"]
        try:
            if handler is None:
                raise ValueError(f"no handler for river type {group.river_type!r}")
            prepared = handler.prepare(context, session, group)
        except Exception as exc:
            _fail_all(context, run_ids, f"The river could not be prepared: {exc}")
            return
        variables = dict(group.variables)
        parent = tracing.stored_context(group.trace_context)
        river_type = group.river_type
    redactor = Redactor(prepared.secrets)
    # Outbound HTTP of this run (actions, REST sources) follows this process's settings.
    policy_token = set_policy(OutboundPolicy.from_settings(context.settings))
    # So do the local paths its connections may open (never the data dir).
    paths_token = local_paths.set_policy(LocalPathPolicy.from_settings(context.settings))
    try:
        # Tables of the group share connections and catalogue reads (connectors.reuse).
        with (
            tracing.span(
                "headwater.run",
                parent,
                run_group_id=run_group_id,
                river_type=river_type,
                worker=context.worker_name,
            ),
            reusing(),
            GroupMonitor(context, run_group_id, prepared.timeout_seconds) as monitor,
        ):
            one = partial(_execute_traced, context, handler, prepared)
            workers = min(prepared.concurrency, len(run_ids))
            if workers <= 1:
                for run_id in run_ids:
                    one(run_id, variables, monitor, redactor)
            else:
                _execute_pipelined(one, workers, run_ids, variables, monitor, redactor)
                # Runs that ended at the same moment each settled the group without seeing
                # the others: settle it once more now that all of them have committed.
                with context.sessions() as session:
                    run_service.resettle_group(session, run_group_id, context.clock())
    finally:
        local_paths.reset_policy(paths_token)
        reset_policy(policy_token)


def _execute_pipelined(
    one: Callable[..., None], workers: int, run_ids: list[str], *args: Any
) -> None:
    """Independent runs (one per table) over ``workers`` threads, in order of submission.

    Each run gets a copy of this thread's context, so the outbound and local-path policies
    set above hold in the worker threads too. ``_execute_one`` never raises for a run's own
    failure; anything else surfaces here as it would in the sequential loop.
    """
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="headwater-table") as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, one, run_id, *args) for run_id in run_ids
        ]
        for future in futures:
            future.result()


def _execute_traced(
    context: RunnerContext,
    handler: Handler[Any],
    prepared: PreparedRiver[Any],
    run_id: str,
    variables: dict[str, Any],
    monitor: GroupMonitor,
    redactor: Redactor,
) -> None:
    """One run inside its table span (a child of the group's ``headwater.run`` span)."""
    with tracing.span("headwater.table", run_id=run_id) as span:
        _execute_one(context, handler, prepared, run_id, variables, monitor, redactor)
        _describe(context, span, run_id)


def _describe(context: RunnerContext, span: Any, run_id: str) -> None:
    """The table span's outcome: its status, rows and bytes (only read when tracing)."""
    if not span.is_recording():
        return
    with context.sessions() as session:
        run = session.get_one(Run, run_id)
        span.set_attribute("headwater.table", run.task_key or run.target_name or "")
        span.set_attribute("headwater.status", run.status)
        span.set_attribute("headwater.rows", run.total_rows)
        span.set_attribute("headwater.bytes", run.total_size)


def _fail_all(context: RunnerContext, run_ids: list[str], message: str) -> None:
    for run_id in run_ids:
        with context.sessions() as session:
            run_service.append_log(session, run_id, "ERROR", message, context.clock())
        _finish(context, run_id, "failed", message)


def _stop_status(monitor: GroupMonitor, timeout: float | None) -> tuple[str, str]:
    if monitor.timed_out:
        return "failed", f"The run exceeded its timeout of {timeout:g} seconds and was stopped"
    return "canceled", "Canceled by request"


def _execute_one(
    context: RunnerContext,
    handler: Handler[Any],
    prepared: PreparedRiver[Any],
    run_id: str,
    variables: dict[str, Any],
    monitor: GroupMonitor,
    redactor: Redactor,
) -> None:
    with context.sessions() as session:
        run = session.get_one(Run, run_id)
        if monitor.cancel.is_set():
            status, message = _stop_status(monitor, prepared.timeout_seconds)
            run_service.finish_run(session, run, status=status, now=context.clock(), error=message)
            return
        if not run_service.mark_running(
            session, run, now=context.clock(), worker=context.worker_name
        ):
            return
        job_fields = (run.run_group_id, run.river_id, run.task_key, run.sub_river_id)

    log = RunLogWriter(context, run_id, redactor, PROGRESS_SECONDS)
    last_progress = [0.0]

    def progress(rows: int, size: int) -> None:
        # Engines report per batch; one DB write per PROGRESS_SECONDS is enough for watchers.
        log.flush_if_due()
        now = time.monotonic()
        if now - last_progress[0] < PROGRESS_SECONDS:
            return
        last_progress[0] = now
        with context.sessions() as progress_session:
            run_service.record_progress(
                progress_session, run_id, rows=rows, size=size, now=context.clock()
            )

    def report(fields: dict[str, Any]) -> None:
        with context.sessions() as report_session:
            run_service.record_details(report_session, run_id, fields, context.clock())

    monitor.track(run_id)
    attempt = 1
    try:
        while True:
            job = RunJob(
                run_id,
                *job_fields,
                variables=variables,
                river=prepared,
                cancel=monitor.cancel,
                log=log,
                progress=progress,
                attempt=attempt,
                report=report,
            )
            outcome: Outcome | None = None
            try:
                outcome = handler.run(context, job)
            except Exception as exc:
                if not monitor.cancel.is_set():
                    message = redactor.redact(str(exc) or exc.__class__.__name__)
                    if is_transient(exc) and attempt < prepared.max_attempts:
                        delay = retry_delay(prepared, attempt)
                        log(
                            "WARNING",
                            f"attempt {attempt} failed with a transient error: {message}; "
                            f"retrying in {delay:g} s",
                        )
                        attempt += 1
                        if not monitor.cancel.wait(delay):
                            continue
                        # cancelled or timed out while waiting: stopped below
                    else:
                        log("ERROR", message)  # an error is written at once
                        logger.info("run %s failed: %s", run_id, message)
                        _finish(context, run_id, "failed", message)
                        return
            # A cancel or timeout wins over whatever the handler did when it noticed it.
            if monitor.cancel.is_set() or outcome is None:
                status, message = _stop_status(monitor, prepared.timeout_seconds)
                log("WARNING", message)
                _finish(context, run_id, status, message)
                return
            log("INFO", f"finished: {outcome.rows} rows, {outcome.size} bytes")
            log.flush()
            with context.sessions() as session:
                run = session.get_one(Run, run_id)
                run_service.finish_run(
                    session,
                    run,
                    status="succeeded",
                    now=context.clock(),
                    rows=outcome.rows,
                    size=outcome.size,
                    units=outcome.units,
                    details=outcome.details,
                )
            return
    finally:
        log.flush()  # anything still gathered (e.g. the run ended by an unexpected error)
        monitor.untrack(run_id)


def _finish(context: RunnerContext, run_id: str, status: str, message: str) -> None:
    with context.sessions() as session:
        run = session.get_one(Run, run_id)
        run_service.finish_run(session, run, status=status, now=context.clock(), error=message)
