"""One table's run split across Celery workers: plan, dispatch, wait, publish once.

With ``HEADWATER_EXECUTOR=celery`` a table whose river asks for ``parallel_partitions``
is split into key ranges (PostgreSQL: ``ctid`` page ranges for a table without a
single-column key). The run that owns the table becomes the *coordinator*: it records one
``run_parts`` row per range, sends one Celery task per part, and holds the source snapshot
the parts read in. Any worker (the coordinator's own helper thread too, so one worker is
enough) claims a part with a conditional UPDATE and overwrites the part's own staging table
in one target transaction. A part whose worker died (its process gone from this host, or
silent for ``HEADWATER_WORKER_LOST_AFTER_SECONDS``) is claimed again and redone from scratch
into a new staging table; a part that fails is retried up to the river's attempts. Once
every part committed, the coordinator publishes them in one target transaction (load
method, state row, drop of the part tables); if a part fails for good, the run fails naming
the part and its range and the target is left as it was.

Anything else (local executor, a target that cannot publish parts, no ranges) runs the
table in this process as before; the run log says why.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from headwater.connectors.base import KeyRange
from headwater.connectors.errors import Cancelled, JobFailed
from headwater.engine.jobs import TableJob
from headwater.engine.parts import (
    PartDone,
    drop_part_tables,
    hold_snapshot,
    part_job,
    plan_ranges,
    publish_parts,
    refusal,
    staging_name,
)
from headwater.engine.pipeline import run_table_job
from headwater.runner.context import RunnerContext
from headwater.runner.contracts import Outcome, RunJob
from headwater.security.redact import Redactor
from headwater.services import run_parts as records
from headwater.services import runs as run_service
from headwater.store.models.run_parts import RunPart

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.25
#: A part whose worker was lost is redone at least once, whatever the river's retry setting.
MIN_LOST_ATTEMPTS = 2
JSON_BOUNDS = (int, str, type(None))


def describe_range(bounds: dict[str, Any]) -> str:
    """``id >= 10 and id < 20`` (the words of a failed run's error)."""
    column, lower, upper = bounds.get("column"), bounds.get("lower"), bounds.get("upper")
    terms = [f"{column} >= {lower}" if lower is not None else "", ""]
    terms[1] = f"{column} < {upper}" if upper is not None else ""
    return " and ".join(t for t in terms if t) or "all rows"


def distribute(context: RunnerContext, job: RunJob[Any], table_job: TableJob) -> Outcome | None:
    """The table's outcome when its run was split across workers; ``None`` when it was not
    (the caller copies it in this process), with an info line saying why."""
    if table_job.parallel_partitions < 2 or table_job.cdc is not None:
        return None
    reason = None
    ranges: list[KeyRange] = []
    if context.submit_part is None:
        reason = f"the {context.settings.executor} executor reads the ranges in this process"
    else:
        reason = refusal(table_job, context.registry)
    if reason is None:
        ranges = plan_ranges(table_job, context.registry)
        if len(ranges) < 2:
            reason = "the table does not split (no integer key, no pages to range)"
        elif not all(isinstance(v, JSON_BOUNDS) for r in ranges for v in (r.lower, r.upper)):
            reason = "its range bounds are not integers"
    if reason is not None:
        message = f"not distributed across workers: {reason}"
        logger.info("run %s: %s", job.run_id, message)
        job.log("INFO", message)
        return None
    assert context.submit_part is not None
    _drop_left_behind(context, job, table_job)
    max_attempts = job.river.max_attempts
    with hold_snapshot(table_job, context.registry) as snapshot:
        bounds = [
            {"column": r.column, "lower": r.lower, "upper": r.upper, "snapshot": snapshot}
            for r in ranges
        ]
        with context.sessions() as session:
            records.create_parts(session, job.run_id, bounds)
        job.log(
            "INFO",
            f"split into {len(bounds)} parts by {ranges[0].column} ranges across workers",
        )
        if snapshot is None:
            job.log(
                "WARNING",
                "the parts are read without a shared snapshot (the source has none): rows "
                "written during the copy may be read at different points in time",
            )
        for number in range(1, len(bounds) + 1):
            context.submit_part(job.run_id, number)
        helper = PartHelper(
            context, table_job, job.run_id, max_attempts, Redactor(job.river.secrets)
        )
        helper.start()
        try:
            parts = _wait(context, job, table_job)
        finally:
            helper.stop()
    done = [
        PartDone(
            str(p.staging),
            p.rows,
            p.bytes,
            p.cursor.get("value"),
            p.cursor.get("type"),
        )
        for p in parts
    ]
    try:
        result = publish_parts(
            table_job, done, registry=context.registry, metering=context.metering, log=job.log
        )
    except BaseException:
        _drop(context, table_job, [d.staging for d in done])
        raise
    finally:
        with context.sessions() as session:
            records.forget_staging(session, job.run_id)
    details: dict[str, Any] = {"load_id": result.load_id, "native_copy": False}
    details["parts"] = len(done)
    if result.cursor_value is not None:
        details["cursor"] = {"value": result.cursor_value, "type": result.cursor_type}
    if result.columns_added:
        details["columns_added"] = list(result.columns_added)
    return Outcome(
        rows=result.rows, size=result.bytes, units=Decimal(str(result.units)), details=details
    )


def _wait(context: RunnerContext, job: RunJob[Any], table_job: TableJob) -> list[RunPart]:
    """Until every part committed; raises when one failed for good or the run is stopped."""
    while True:
        with context.sessions() as session:
            parts = records.list_parts(session, job.run_id)
            session.expunge_all()
        failed = next((p for p in parts if p.status == "failed"), None)
        if failed is not None or job.cancel.is_set():
            with context.sessions() as session:
                records.cancel_open(session, job.run_id, context.clock())
            _drop(context, table_job, [p.staging for p in parts if p.staging])
            if failed is None:
                raise Cancelled("cancelled on request")
            raise JobFailed(
                f"Table {table_job.source_display()} -> {table_job.target_name()}: part "
                f"{failed.part} ({describe_range(failed.bounds)}) failed after "
                f"{failed.attempts} attempt(s): {failed.error}; nothing was published",
                transient=False,
            )
        if all(p.status == "committed" for p in parts):
            return parts
        job.progress(sum(p.rows for p in parts), sum(p.bytes for p in parts))
        job.cancel.wait(POLL_SECONDS)


def _drop_left_behind(context: RunnerContext, job: RunJob[Any], table_job: TableJob) -> None:
    """Part tables an earlier run of this table committed but never published (its
    coordinator died) are dropped before this run stages its own."""
    if job.task_key is None:
        return
    with context.sessions() as session:
        found = records.left_behind(session, job.river_id, job.task_key)
    for run_id, names in found.items():
        if not _drop(context, table_job, names):
            continue
        with context.sessions() as session:
            records.forget_staging(session, run_id)
        job.log("INFO", f"dropped {len(names)} part table(s) left by run {run_id}")


def _drop(context: RunnerContext, table_job: TableJob, names: list[str]) -> bool:
    try:
        drop_part_tables(table_job, names, context.registry)
    except Exception:
        logger.exception("could not drop the part tables %s", names)
        return False
    return True


class PartHelper:
    """The coordinator's own hands: claims and runs parts no other worker took."""

    def __init__(
        self,
        context: RunnerContext,
        table_job: TableJob,
        run_id: str,
        max_attempts: int,
        redactor: Redactor,
    ) -> None:
        self.args = (context, table_job, run_id, max_attempts, redactor)
        self._stop = threading.Event()
        # the run's outbound and local-path policies (context variables) hold in the helper
        context_copy = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context_copy.run, args=(self._loop,), name="headwater-part", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        context, table_job, run_id, max_attempts, redactor = self.args
        while not self._stop.is_set():
            try:
                took = claim_next(context, run_id, max_attempts)
                if took is None:
                    self._stop.wait(POLL_SECONDS)
                    continue
                execute_part(context, table_job, run_id, *took, max_attempts, redactor)
            except Exception:
                logger.exception("run %s: the coordinator's part helper failed", run_id)
                self._stop.wait(POLL_SECONDS)


def claim_next(
    context: RunnerContext, run_id: str, max_attempts: int, only: int | None = None
) -> tuple[int, dict[str, Any], int] | None:
    """Claim a pending part, or one whose worker was lost: ``(part, bounds, attempt)``."""
    now = context.clock()
    with context.sessions() as session:
        for part in records.list_parts(session, run_id):
            if only is not None and part.part != only:
                continue
            lost = records.is_lost(part, now, context.lost_after)
            if part.status != "pending" and not lost:
                continue
            if lost and part.attempts >= max(max_attempts, MIN_LOST_ATTEMPTS):
                records.fail_lost(
                    session, part, now, f"its worker {part.worker} was lost on the last attempt"
                )
                continue
            number, bounds, worker = part.part, dict(part.bounds), part.worker
            attempt = records.claim(session, part, context.worker_name, now)
            if attempt is not None:
                if lost:
                    run_service.append_log(
                        session,
                        run_id,
                        "WARNING",
                        f"part {number}: worker {worker} was lost; redoing it "
                        f"(attempt {attempt}) on {context.worker_name}",
                        now,
                    )
                return number, bounds, attempt
    return None


def execute_part(
    context: RunnerContext,
    table_job: TableJob,
    run_id: str,
    number: int,
    bounds: dict[str, Any],
    attempt: int,
    max_attempts: int,
    redactor: Redactor,
) -> None:
    """One attempt of one part, claimed by this worker: its range into its staging table."""
    me = context.worker_name
    staging = staging_name(run_id, number, attempt)
    key_range = KeyRange(str(bounds["column"]), bounds.get("lower"), bounds.get("upper"))
    job = part_job(table_job, key_range, staging, bounds.get("snapshot"))
    cancel = threading.Event()
    beating = _Beat(context, run_id, number, attempt, cancel)
    started = time.monotonic()
    try:
        with beating:
            result = run_table_job(
                job, cancel=cancel, registry=context.registry, metering=context.metering
            )
    except Exception as exc:
        message = redactor.redact(str(exc) or exc.__class__.__name__)
        retry = attempt < max_attempts and not cancel.is_set()
        with context.sessions() as session:
            ended = records.finish(
                session,
                run_id,
                number,
                me,
                attempt,
                context.clock(),
                status="pending" if retry else "failed",
                error=message,
            )
            if ended:
                run_service.append_log(
                    session,
                    run_id,
                    "WARNING" if retry else "ERROR",
                    f"part {number} ({describe_range(bounds)}) attempt {attempt} on {me} "
                    f"failed{'; retrying' if retry else ''}: {message}",
                    context.clock(),
                )
        return
    seconds = time.monotonic() - started
    cursor = (
        {"value": result.cursor_value, "type": result.cursor_type} if result.cursor_value else {}
    )
    with context.sessions() as session:
        committed = records.finish(
            session,
            run_id,
            number,
            me,
            attempt,
            context.clock(),
            status="committed",
            staging=staging,
            rows=result.rows,
            bytes=result.bytes,
            cursor=cursor,
        )
        if committed:
            run_service.append_log(
                session,
                run_id,
                "INFO",
                f"part {number} ({describe_range(bounds)}) committed on {me}: "
                f"{result.rows} rows in {seconds:.2f} s",
                context.clock(),
            )
    if not committed:  # taken over or canceled meanwhile: what it staged is nobody's
        _drop(context, table_job, [staging])


class _Beat:
    """Renews a part attempt's heartbeat; sets ``cancel`` when the attempt is no longer this
    worker's (the run failed or was canceled, or the part was taken over)."""

    def __init__(
        self,
        context: RunnerContext,
        run_id: str,
        number: int,
        attempt: int,
        cancel: threading.Event,
    ) -> None:
        self.context, self.run_id, self.number, self.attempt = context, run_id, number, attempt
        self.cancel = cancel
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="headwater-part-beat", daemon=True)

    def __enter__(self) -> _Beat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        interval = min(self.context.heartbeat_interval.total_seconds(), 1.0)
        beat: Callable[..., bool] = records.beat
        while not self._stop.wait(interval):
            try:
                with self.context.sessions() as session:
                    mine = beat(
                        session,
                        self.run_id,
                        self.number,
                        self.context.worker_name,
                        self.attempt,
                        self.context.clock(),
                    )
            except Exception:  # the next beat retries; a lost window allows several misses
                continue
            if not mine:
                self.cancel.set()
                return
