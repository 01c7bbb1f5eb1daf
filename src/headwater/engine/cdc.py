"""The ``cdc`` extract method: an aligned initial snapshot, then the source's change log.

The target holds the truth about progress: the state row (``_headwater_state``) of a CDC
table is a JSON text with the log ``position`` every committed change is before, and, while
the initial snapshot runs, which of its key-range chunks are done. Each target commit
carries its rows and that state in one transaction; the source log is released
(``ChangeReader.confirm``) only after it, and only as far as every CDC table of the river
has committed. A crash anywhere re-reads transactions the state already covers, and the
reader skips them: each change lands exactly once.

A resumed snapshot (the worker died after some chunks) takes a new snapshot for the
remaining chunks and keeps the first snapshot's position: the changes since then are
re-applied over rows read later, which upserts make converge to the source by the time the
stream passes the new snapshot (see docs/cdc.md).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

import pyarrow as pa

from headwater.connectors.arrowutil import batch_bytes
from headwater.connectors.base import (
    Capabilities,
    Column,
    CursorState,
    KeyRange,
    LoadMethod,
    LoadPlan,
    MetadataColumns,
    ReadRequest,
    Source,
    TableRef,
    Target,
)
from headwater.connectors.changes import ChangeReader, ChangeSource, Lag
from headwater.connectors.errors import Cancelled, ConfigurationError
from headwater.engine.cdc_batch import Batch, Mode, constant_columns, meta_columns
from headwater.engine.jobs import TableJob, TableResult
from headwater.engine.metering import MeteringPolicy, compute_units
from headwater.engine.schema import reconcile
from headwater.engine.transfer import transfer

DONE = "done"
ProgressCallback = Callable[[int, int], None]


class _Run(Protocol):
    """What ``pipeline._Run`` gives change capture (its planning helpers and connections)."""

    job: TableJob
    source: Source
    target: Target
    source_caps: Capabilities
    target_caps: Capabilities
    what: str
    started: datetime
    metering: MeteringPolicy

    def emit(self, level: str, message: str) -> None: ...

    def source_columns(self) -> tuple[Column, ...]: ...

    def check_identifiers(self, ref: TableRef, columns: tuple[Column, ...]) -> None: ...

    def _abort_servers(self) -> None: ...


def run_cdc(
    run: _Run, cancel: threading.Event | None, progress: ProgressCallback | None
) -> TableResult:
    """Snapshot (first run, or a resumed one) then apply the changes; see the module doc."""
    if not run.source_caps.change_capture:
        raise ConfigurationError(f"{run.what}: the source connector cannot capture changes")
    if not run.target_caps.keyed_writes or run.target_caps.merge_strategy == "none":
        raise ConfigurationError(
            f"{run.what}: the target connector cannot apply changes (it needs merge and "
            "deletes by key)"
        )
    cdc = _Cdc(run, cancel, progress)
    try:
        return cdc.execute()
    finally:
        cdc.reader.close()


class _Cdc:
    def __init__(
        self, run: _Run, cancel: threading.Event | None, progress: ProgressCallback | None
    ) -> None:
        job = run.job
        assert job.cdc is not None and job.source_ref is not None
        self.run, self.job, self.opts = run, job, job.cdc
        self.cancel = cancel or threading.Event()
        self.progress = progress
        if not isinstance(run.source, ChangeSource):
            raise ConfigurationError(f"{run.what}: the source connector cannot capture changes")
        self.reader: ChangeReader = run.source.change_reader(self.opts.name)
        self.rows = 0
        self.bytes = 0
        self.changes = 0
        self.snapshot_rows = 0
        self.latency: float | None = None
        self._carriers: dict[str, Column | None] = {}
        self._warned = False

    # -- set-up -------------------------------------------------------------------------------

    def execute(self) -> TableResult:
        run, job, opts = self.run, self.job, self.opts
        assert job.source_ref is not None
        table = run.source.describe(job.source_ref)
        self.ref = table.ref
        run.source_columns()  # checks the selected and key columns exist
        self.key = tuple(job.merge_keys) or table.primary_key
        self.mode: Mode = (
            "log" if job.load_method == "append" else "history" if opts.history else "apply"
        )
        if self.mode != "log" and not self.key:
            raise ConfigurationError(
                f"{run.what}: the table has no primary key; mark key columns, or load it with "
                "the append method to keep an append-only change log"
            )
        self.soft = opts.deletes == "soft"
        self.meta = meta_columns(self.mode, self.soft, opts.change_columns)
        self.reader.prepare(self.ref)
        self.target_ref = TableRef(
            job.target_name(), job.target_schema or run.target.default_schema()
        )
        self.state_key = job.resolved_state_key(self.target_ref.schema)
        state = self._state(self.state_key)
        if state is None or state.get("snapshot") != DONE:
            state = self._snapshot(state)
        position = str(state["position"])
        lag = self._stream(position)
        return self._result(lag)

    def _state(self, key: str) -> dict[str, Any] | None:
        stored = self.run.target.read_state(self.target_ref.schema, key)
        if stored is None:
            return None
        try:
            value = json.loads(str(stored.value))
        except ValueError:
            value = None
        if not isinstance(value, dict) or "position" not in value:
            raise ConfigurationError(
                f"{self.run.what}: the stored state {key!r} is not a change capture position; "
                "the table was loaded by another extract method (reset the river's state)"
            )
        return value

    def carrier(self, name: str) -> Column | None:
        """The column as loaded (``None``: not selected, or no longer in the table)."""
        if name not in self._carriers or self._carriers[name] is None:
            column = self.reader.columns(self.ref).get(name)
            if column is not None and (
                (self.job.columns and name not in self.job.columns)
                or name in self.job.excluded_columns
            ):
                column = None  # not selected (``is_selected: false``), like the batch path
            if (
                column is not None
                and self.run.source_caps.type_dialect
                and (self.run.source_caps.type_dialect == self.run.target_caps.type_dialect)
            ):
                column = self.run.source.same_dialect_columns((column,))[0]
            self._carriers[name] = column
        return self._carriers[name]

    def data_columns(self, names: Any = None) -> list[Column]:
        """Loaded columns in table order; only ``names`` when given."""
        columns = []
        for name in self.reader.columns(self.ref):
            if names is not None and name not in names:
                continue
            column = self.carrier(name)
            if column is not None:
                columns.append(column)
        return columns

    def _plan(self, columns: list[Column], method: LoadMethod) -> LoadPlan:
        run, job = self.run, self.job
        all_columns = tuple(columns + self.meta)
        run.check_identifiers(self.target_ref, all_columns)
        existing = run.target.describe(self.target_ref)
        drift = reconcile(
            all_columns,
            existing,
            run.target,
            policy=job.schema_drift,
            method=method,
            what=run.what,
            warn=partial(run.emit, "warning"),
        )
        metadata = MetadataColumns(job.load_id, run.started) if job.add_metadata_columns else None
        return LoadPlan(
            target=self.target_ref,
            columns=drift.columns,
            method=method,
            existing=existing,
            merge_keys=self.key if method == "merge" else (),
            metadata=metadata,
            add_columns=drift.add,
            widen_columns=drift.widen,
            state_schema=self.target_ref.schema,
            load_id=job.load_id,
            partition_by=job.partition_by,
        )

    def _cursor_state(self, value: dict[str, Any]) -> CursorState:
        return CursorState(self.state_key, json.dumps(value), "string", self.job.load_id)

    # -- initial snapshot ---------------------------------------------------------------------

    def _chunks(self) -> list[list[Any]]:
        run, opts = self.run, self.opts
        if len(self.key) != 1:
            return [[None, None]]
        estimate = run.source.estimate_rows(self.ref.schema).get(self.ref.name, 0)
        parts = max(1, -(-estimate // max(opts.snapshot_chunk_rows, 1)))
        parts = max(parts, self.job.parallel_partitions)
        if parts < 2 or not run.source_caps.key_ranges:
            return [[None, None]]
        ranges = run.source.plan_key_ranges(self.ref, self.key[0], parts)
        return [[r.lower, r.upper] for r in ranges]

    def _snapshot(self, state: dict[str, Any] | None) -> dict[str, Any]:
        run = self.run
        resuming = state is not None and isinstance(state.get("snapshot"), dict)
        if resuming:
            assert state is not None
            ranges, start = state["snapshot"]["ranges"], int(state["snapshot"]["next"])
        else:
            ranges, start = self._chunks(), 0
        group = max(self.job.parallel_partitions, 1)
        with self.reader.snapshot() as (snapshot_id, position_now):
            position = str(state["position"]) if resuming and state else position_now
            if resuming:
                run.emit(
                    "info",
                    f"{run.what}: resuming the initial snapshot at chunk {start + 1} of "
                    f"{len(ranges)} (changes since {position} are re-applied over it)",
                )
            else:
                run.emit(
                    "info",
                    f"{run.what}: initial snapshot at {position}, {len(ranges)} chunk(s)",
                )
            data = self.data_columns()
            at = datetime.now(UTC)
            for first in range(start, len(ranges), group):
                chunk = ranges[first : first + group]
                done = first + group >= len(ranges)
                value: dict[str, Any] = {
                    "position": position,
                    "snapshot": DONE if done else {"next": first + group, "ranges": ranges},
                }
                method: LoadMethod = (
                    "overwrite" if first == 0 else "merge" if self.mode == "apply" else "append"
                )
                self._snapshot_chunk(method, chunk, snapshot_id, position, at, data, value)
                if self.cancel.is_set() and not done:
                    raise Cancelled("cancelled on request")
        run.emit("info", f"{run.what}: initial snapshot committed, {self.snapshot_rows} rows")
        return {"position": position, "snapshot": DONE}

    def _snapshot_chunk(
        self,
        method: LoadMethod,
        chunk: list[list[Any]],
        snapshot_id: str | None,
        position: str,
        at: datetime,
        data: list[Column],
        value: dict[str, Any],
    ) -> None:
        plan = self._plan(data, method)
        loader = self.run.target.begin(plan)
        rows = 0

        def consume(batch: pa.RecordBatch) -> None:
            nonlocal rows
            shown = self.reader.log_position(position)
            arrays = list(batch.columns) + constant_columns(self.meta, batch.num_rows, shown, at)
            out = pa.RecordBatch.from_arrays(arrays, names=[c.name for c in plan.columns])
            loader.write(out)
            rows += out.num_rows
            self.bytes += batch_bytes(batch)
            if self.progress is not None:
                self.progress(self.rows + rows, self.bytes)

        def producers() -> list[Callable[[], Iterator[Any]]]:
            return [
                partial(
                    self.run.source.read,
                    ReadRequest(
                        columns=tuple(data),
                        table=self.ref,
                        key_range=KeyRange(self.key[0], lower, upper)
                        if lower is not None or upper is not None
                        else None,
                        batch_bytes=self.job.batch_bytes,
                        snapshot=snapshot_id,
                    ),
                )
                for lower, upper in chunk
            ]

        try:
            transfer(
                producers(),
                consume,
                max_in_flight=self.job.max_batches_in_flight,
                cancel=self.cancel,
                on_abort=self.run._abort_servers,
            )
            if self.cancel.is_set():
                raise Cancelled("cancelled on request")
            loader.commit(self._cursor_state(value))
        except BaseException:
            loader.abort()
            raise
        self.rows += rows
        self.snapshot_rows += rows

    # -- the change stream --------------------------------------------------------------------

    def _stream(self, position: str) -> Lag:
        opts = self.opts
        committed_at: datetime | None = None
        while True:
            batch = self._new_batch()
            read_any = False  # changes of this table: read on, the reader may have stopped
            for txn in self.reader.read(self.ref, position, opts.commit_changes, self.carrier):
                read_any = read_any or bool(txn.changes)
                batch.add(txn)
                if batch.count >= opts.commit_changes:
                    position = self._commit(batch, position)
                    committed_at = batch.committed_at
                    batch = self._new_batch()
                if self.cancel.is_set():
                    break
            if batch.position is not None:
                position = self._commit(batch, position)
                committed_at = batch.committed_at or committed_at
            self._confirm(position)
            lag = self.reader.lag(position, None)
            if opts.report is not None:
                opts.report(self._figures(lag))  # live, with the retained-log warning
            if self.cancel.is_set() or self._stop_requested():
                break
            if read_any:
                continue  # the reader may stop at a size limit: read on until caught up
            if not opts.continuous or self.cancel.wait(opts.commit_seconds):
                break
        if committed_at is not None:
            self.run.emit("info", f"{self.run.what}: applied changes up to {position}")
        return lag

    def _stop_requested(self) -> bool:
        return self.opts.should_stop is not None and self.opts.should_stop()

    def _new_batch(self) -> Batch:
        return Batch(self.mode, self.key)

    def _commit(self, batch: Batch, position: str) -> str:
        """One target transaction: the batch's writes and rows, and its position."""
        assert batch.position is not None
        value = {"position": batch.position, "snapshot": DONE}
        if batch.count == 0:
            # transactions of other tables only: move the position without touching rows
            plan = self._plan(self.data_columns(), "merge" if self.mode == "apply" else "append")
            loader = self.run.target.begin(plan)
            try:
                loader.commit(self._cursor_state(value))
            except BaseException:
                loader.abort()
                raise
            return batch.position
        missing = batch.missing_keys()
        if missing:
            batch.fill(self.reader.fetch_rows(self.ref, self.key, missing))
        data = self.data_columns(batch.seen) if self.mode != "log" else self.data_columns()
        if self.mode != "log":
            data = self._with_key(data)
        method: LoadMethod = "merge" if self.mode == "apply" else "append"
        plan = self._plan(data, method)
        loaded = [c for c in plan.columns if c.name not in {m.name for m in self.meta}]
        rows = batch.rows(loaded, [c for c in plan.columns if c not in loaded])
        loader = self.run.target.begin(plan)
        try:
            for write in batch.keyed_writes(self.soft, self.opts.change_columns):
                if write.rows:
                    loader.stage_keyed(write)
            if rows is not None:
                loader.write(rows)
            loader.commit(self._cursor_state(value))
        except BaseException:
            loader.abort()
            raise
        if batch.committed_at is not None:
            self.latency = (datetime.now(UTC) - batch.committed_at).total_seconds()
        self.changes += batch.count
        self.rows += 0 if rows is None else rows.num_rows
        self.bytes += batch.size_bytes
        if self.progress is not None:
            self.progress(self.rows, self.bytes)
        return batch.position

    def _with_key(self, data: list[Column]) -> list[Column]:
        names = {c.name for c in data}
        missing = [k for k in self.key if k not in names]
        return self.data_columns(names.union(missing)) if missing else data

    def _confirm(self, position: str) -> None:
        """Release the log up to the position every CDC table of the river committed."""
        lowest = position
        for key in self.opts.sibling_state_keys:
            if key == self.state_key:
                continue
            sibling = self._state(key)
            if sibling is not None and self.reader.before(str(sibling["position"]), lowest):
                lowest = str(sibling["position"])
        self.reader.confirm(lowest)

    # -- result -------------------------------------------------------------------------------

    def _figures(self, lag: Lag) -> dict[str, Any]:
        """The run record's change capture fields, with ``cdc_warning`` while the source
        keeps more log than ``retained_warning_bytes`` (reported live, so a continuous run
        raises it when it happens: the run log once, the run record, the ``cdc.slot_lag``
        webhook event)."""
        figures: dict[str, Any] = {
            "cdc_lag_seconds": round(self.latency, 3) if self.latency is not None else 0.0,
            "cdc_lag_bytes": lag.bytes,
            "cdc_retained_bytes": lag.retained_bytes,
            "cdc_changes": self.changes,
            "cdc_snapshot_rows": self.snapshot_rows,
        }
        limit = self.opts.retained_warning_bytes
        if lag.retained_bytes is not None and lag.retained_bytes > limit:
            warning = (
                f"{self.run.what}: the source keeps {lag.retained_bytes} bytes of log for this "
                f"river's change capture (over {limit}); run the river more often, or drop "
                "its slot if it is no longer used"
            )
            if not self._warned:
                self.run.emit("warning", warning)
                self._warned = True
            figures["cdc_warning"] = warning
        return figures

    def _result(self, lag: Lag) -> TableResult:
        run = self.run
        finished = datetime.now(UTC)
        details = self._figures(lag)
        run.emit(
            "info",
            f"{run.what}: {self.changes} change(s) applied, {self.snapshot_rows} snapshot rows",
        )
        return TableResult(
            source=self.job.source_display(),
            target=self.target_ref.display(),
            rows=self.rows,
            bytes=self.bytes,
            load_id=self.job.load_id,
            started_at=run.started,
            finished_at=finished,
            units=compute_units(
                self.bytes, succeeded=True, policy=run.metering, per_execution=False
            ),
            details=details,
        )
