"""Run one table job: extract -> bounded queue -> load, atomically, with exact cursor state.

The steps, in order: describe the source columns; name the target and check identifier
lengths; reconcile schema drift with the existing target table; read the committed cursor from
the target's state table; choose the native byte stream when source and target share a format
and the column types are identical, Arrow batches otherwise; split into key ranges read in
parallel (sharing a snapshot where the source has one); stream into one atomic load; commit the
data and the new cursor in the same target transaction.

Everything connector-specific is decided from :class:`Capabilities` data.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple

import pyarrow as pa

from headwater.connectors.arrowutil import batch_bytes
from headwater.connectors.base import (
    Column,
    ConnectorSpec,
    CursorFilter,
    CursorState,
    KeyRange,
    Loader,
    LoadPlan,
    MetadataColumns,
    ReadRequest,
    Source,
    StatePoint,
    Table,
    TableRef,
    Target,
    require_columns,
)
from headwater.connectors.errors import (
    Cancelled,
    ConfigurationError,
    ConnectorError,
    JobFailed,
)
from headwater.connectors.partitioning import partition_columns, partitioning_refusal
from headwater.connectors.registry import Registry, default_registry
from headwater.connectors.values import arrow_max, encode_cursor, later, parse_start_value
from headwater.engine.arrow_memory import prefer_jemalloc
from headwater.engine.boundary import MAX_BOUNDARY_ROWS, Boundary
from headwater.engine.cdc import run_cdc
from headwater.engine.jobs import TableJob, TableResult
from headwater.engine.metering import DEFAULT_POLICY, MeteringPolicy, compute_units
from headwater.engine.schema import DriftDecision, reconcile
from headwater.engine.state_points import Transactions
from headwater.engine.transfer import transfer

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
LogCallback = Callable[[str, str], None]


def project(batch: pa.RecordBatch, names: list[str], what: str) -> pa.RecordBatch:
    """``batch`` with exactly the planned columns, in plan order: a source that returns more
    than it was asked for (a plugin that ignores ``ReadRequest.columns``) still loads only the
    selected columns."""
    missing = [n for n in names if n not in batch.schema.names]
    if missing:
        raise ConfigurationError(f"{what}: the source returned no column {missing[0]!r}")
    return batch.select(names)


def run_table_job(
    job: TableJob,
    *,
    cancel: threading.Event | None = None,
    progress: ProgressCallback | None = None,
    log: LogCallback | None = None,
    registry: Registry | None = None,
    metering: MeteringPolicy = DEFAULT_POLICY,
) -> TableResult:
    """Copy one table; return what was done or raise.

    ``progress(rows, bytes)`` receives running totals (for native PostgreSQL copies the row
    count is known only at the end; bytes move live). ``log(level, message)`` receives
    human-readable events (levels ``info``/``warning``). Raises :class:`Cancelled` when
    ``cancel`` is set, and :class:`JobFailed` (message naming the table and the cause,
    ``transient`` telling whether a retry may help) for every other failure; in both cases the
    target table and the cursor state are left exactly as they were.
    """
    prefer_jemalloc()
    emit = _Emitter(log)
    registry = registry or default_registry()
    what = f"{job.source_display()} -> {job.target_table or job.source_table or '?'}"
    try:
        job.validate()
        what = f"{job.source_display()} -> {job.target_name()}"
        with opened_run(job, registry, emit, what, metering) as run:
            return run.execute(cancel, progress)
    except Cancelled as exc:
        emit("warning", f"{what}: cancelled; nothing was committed")
        raise Cancelled(f"Table {what}: cancelled; nothing was committed") from exc
    except ConnectorError as exc:
        raise JobFailed(f"Table {what}: {exc}", transient=exc.transient, cause=exc) from exc
    except Exception as exc:
        logger.exception("Unexpected failure copying %s", what)
        raise JobFailed(
            f"Table {what}: unexpected error: {exc!r}", transient=False, cause=exc
        ) from exc


class _Emitter:
    def __init__(self, callback: LogCallback | None) -> None:
        self.callback = callback

    def __call__(self, level: str, message: str) -> None:
        logger.log(logging.WARNING if level == "warning" else logging.INFO, "%s", message)
        if self.callback is not None:
            self.callback(level, message)


@dataclass
class _Totals:
    rows: int = 0
    bytes: int = 0
    cursor_max: Any = None


class ReconciledTarget(NamedTuple):
    """What a load plan is built from (``_Run.reconciled_target``)."""

    columns: tuple[Column, ...]
    ref: TableRef
    existing: Table | None
    drift: DriftDecision


@contextlib.contextmanager
def opened_run(
    job: TableJob, registry: Registry, emit: _Emitter, what: str, metering: MeteringPolicy
) -> Iterator[_Run]:
    """The job's source (configured) and target, opened in that order, closed in reverse."""
    source_spec = registry.get(job.source_connector)
    target_spec = registry.get(job.target_connector)
    with contextlib.closing(registry.open_source(job.source_connector, job.source_props)) as source:
        source.configure(job.source_options, emit)
        with contextlib.closing(
            registry.open_target(job.target_connector, job.target_props)
        ) as target:
            yield _Run(job, source, target, source_spec, target_spec, emit, what, metering)


class _Run:
    def __init__(
        self,
        job: TableJob,
        source: Source,
        target: Target,
        source_spec: ConnectorSpec,
        target_spec: ConnectorSpec,
        emit: _Emitter,
        what: str,
        metering: MeteringPolicy,
    ) -> None:
        self.job, self.source, self.target = job, source, target
        self.metering = metering
        self.source_caps = source_spec.capabilities
        self.target_caps = target_spec.capabilities
        self.emit, self.what = emit, what
        self.started = datetime.now(UTC)

    # -- planning -----------------------------------------------------------------------------

    def source_columns(self) -> tuple[Column, ...]:
        job = self.job
        if job.source_query:
            columns = self.source.describe_query(job.source_query)
            table = Table(TableRef("custom query"), columns)
        else:
            assert job.source_ref is not None
            table = self.source.describe(job.source_ref)
            columns = table.columns
        if job.columns:
            require_columns(table, job.columns, "selected")
            columns = tuple(c for c in columns if c.name in set(job.columns))
        if job.excluded_columns:
            columns = tuple(c for c in columns if c.name not in set(job.excluded_columns))
        if job.cursor_column:
            require_columns(table, [job.cursor_column], "cursor")
        if job.merge_keys:
            require_columns(table, job.merge_keys, "merge key")
        if job.partition_column:
            require_columns(table, [job.partition_column], "partition")
        if job.partition_by:
            require_columns(table, partition_columns(job.partition_by), "partition_by")
        if not columns:
            raise ConfigurationError(
                f"{self.what}: no columns to copy (the source has none, or none is selected)"
            )
        return columns

    def check_identifiers(self, ref: TableRef, columns: tuple[Column, ...]) -> None:
        limit = self.target_caps.max_identifier_length
        if not limit:
            return
        unit = self.target_caps.identifier_length_unit
        for name in [ref.name, *(c.name for c in columns)]:
            length = len(name.encode()) if unit == "bytes" else len(name)
            if length > limit:
                raise ConfigurationError(
                    f"{self.what}: identifier {name!r} is {length} {unit} long; "
                    f"the target allows at most {limit}"
                )

    def reconciled_target(self) -> ReconciledTarget:
        """The source's columns (in the target's types when both share a dialect), the target
        table, checked names and load method, and the schema drift against what exists."""
        job = self.job
        columns = self.source_columns()
        dialect = self.source_caps.type_dialect
        if dialect and dialect == self.target_caps.type_dialect:
            columns = self.source.same_dialect_columns(columns)
        target_ref = TableRef(job.target_name(), job.target_schema or self.target.default_schema())
        self.check_identifiers(target_ref, columns)
        if job.load_method == "merge" and self.target_caps.merge_strategy == "none":
            raise ConfigurationError(f"{self.what}: the target connector cannot merge")
        existing = self.target.describe(target_ref)
        drift = reconcile(
            columns,
            existing,
            self.target,
            policy=job.schema_drift,
            method=job.load_method,
            what=self.what,
            warn=partial(self.emit, "warning"),
        )
        return ReconciledTarget(columns, target_ref, existing, drift)

    def cursor_filter(
        self, state_schema: str | None, state_key: str
    ) -> tuple[CursorFilter | None, CursorState | None]:
        """Where to resume, and the committed state it comes from (if any)."""
        job = self.job
        if job.extract_method != "incremental":
            return None, None
        if self.source_caps.connector_state:
            return None, self.resume_connector(state_schema, state_key)
        assert job.cursor_column and job.cursor_type
        state = self.target.read_state(state_schema, state_key)
        if state is not None:
            start = state.value
            self.emit("info", f"{self.what}: resuming from {job.cursor_column} = {start}")
        elif job.start_value:
            start = parse_start_value(job.start_value, job.cursor_type)
        else:
            return None, None
        # merge re-reads the boundary (>=) because upserts make the repeat harmless; append
        # re-reads it only when the fingerprints of the boundary rows are known, and drops
        # the rows already loaded (see headwater.engine.boundary).
        inclusive = job.load_method == "merge" or (state is not None and state.boundary is not None)
        if state is not None and state.boundary is None and job.load_method != "merge":
            self.emit(
                "warning",
                f"{self.what}: no boundary fingerprints stored; reading "
                f"{job.cursor_column} > {start}",
            )
        return CursorFilter(job.cursor_column, start, inclusive=inclusive), state

    def resume_connector(self, state_schema: str | None, state_key: str) -> CursorState | None:
        """Hand a connector that keeps its own state (Airbyte, Singer) the committed one."""
        state = self.target.read_state(state_schema, state_key)
        if state is not None:
            self.emit("info", f"{self.what}: resuming from the connector state committed last")
        self.source.resume(str(state.value) if state is not None else None)
        return state

    def key_ranges(self, columns: tuple[Column, ...]) -> list[KeyRange | None]:
        job = self.job
        if job.part is not None:
            return [job.part.key_range]
        if job.parallel_partitions < 2:
            return [None]
        if not self.source_caps.key_ranges or job.source_ref is None:
            self.emit("info", f"{self.what}: the source cannot split this read; reading serially")
            return [None]
        key = job.partition_column
        if key is None:
            keys = [c.name for c in columns if c.primary_key]
            if len(keys) != 1:
                self.emit("info", f"{self.what}: no single-column key to split on; serial read")
                return [None]
            key = keys[0]
        ranges = self.source.plan_key_ranges(job.source_ref, key, job.parallel_partitions)
        return list(ranges) if len(ranges) > 1 else [None]

    def use_native(self, plan_columns: tuple[Column, ...], existing: Table | None) -> bool:
        fmt = self.source_caps.native_stream_format
        if not fmt or fmt != self.target_caps.native_stream_format:
            return False
        for column in plan_columns:
            if self.target.type_for(column) != column.source_type:
                return False
            if existing is not None and self.job.load_method != "overwrite":
                current = existing.column(column.name)
                if current is None or current.source_type != column.source_type:
                    return False
        return True

    # -- execution ----------------------------------------------------------------------------

    def execute(
        self, cancel: threading.Event | None, progress: ProgressCallback | None
    ) -> TableResult:
        job = self.job
        if job.extract_method == "cdc":
            return run_cdc(self, cancel, progress)
        refusal = partitioning_refusal(
            job.partition_by, self.target_caps.partitioning, job.target_connector
        )
        if refusal:
            raise ConfigurationError(f"{self.what}: {refusal}")
        columns, target_ref, existing, drift = self.reconciled_target()
        state_schema = target_ref.schema
        state_key = job.resolved_state_key(target_ref.schema)
        cursor, state_before = self.cursor_filter(state_schema, state_key)
        # appends need to see rows to fingerprint the boundary, so they go through Arrow
        needs_rows = (
            job.extract_method == "incremental"
            and job.load_method != "merge"
            and not self.source_caps.connector_state
        )
        native = not needs_rows and self.use_native(drift.columns, existing)
        ranges = self.key_ranges(columns)
        metadata = MetadataColumns(job.load_id, self.started) if job.add_metadata_columns else None
        plan = LoadPlan(
            target=target_ref,
            columns=drift.columns,
            method=job.load_method,
            existing=existing,
            merge_keys=tuple(job.merge_keys),
            metadata=metadata,
            add_columns=drift.add,
            widen_columns=drift.widen,
            native=native,
            state_schema=state_schema,
            load_id=job.load_id,
            partition_by=job.partition_by,
        )
        self.emit(
            "info",
            f"{self.what}: {job.load_method} load, "
            f"{'native stream' if native else 'Arrow'} copy, "
            f"{len(ranges)} reader(s)",
        )
        totals = _Totals()
        boundary = None
        if needs_rows:
            index = [c.name for c in drift.columns].index(str(job.cursor_column))
            inclusive = cursor is not None and cursor.inclusive and state_before is not None
            boundary = Boundary(
                index,
                cursor.value if cursor else None,
                state_before.boundary if inclusive and state_before else None,
            )
        load = Transactions(self.target, plan, state_key, job.load_id, self.emit, self.what)
        try:
            self._stream(load, plan, cursor, ranges, totals, cancel, progress, boundary)
            if self.source_caps.connector_state:
                new_cursor = (
                    self.source.checkpoint() or load.state or (state_before and state_before.value)
                )
            else:
                new_cursor = self._new_cursor(load.current, cursor, totals, native, boundary)
            state = self._state_after(state_key, new_cursor, boundary)
            if job.part is not None:
                state = None  # the publish commits the state of all the parts
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled on request")
            rows = load.commit(state)
        except BaseException:
            load.abort()
            raise
        totals.rows = rows
        if progress is not None:
            progress(totals.rows, totals.bytes)
        finished = datetime.now(UTC)
        cursor_text, cursor_kind = (
            encode_cursor(new_cursor) if new_cursor is not None else (None, None)
        )
        self.emit("info", f"{self.what}: committed {rows} rows, {totals.bytes} bytes")
        return TableResult(
            source=job.source_display(),
            target=target_ref.display(),
            rows=rows,
            bytes=totals.bytes,
            load_id=job.load_id,
            started_at=self.started,
            finished_at=finished,
            cursor_value=cursor_text,
            cursor_type=cursor_kind,
            native=native,
            partitions=len(ranges),
            units=compute_units(
                totals.bytes,
                succeeded=True,
                policy=self.metering,
                per_execution=self.source_caps.metering == "per_execution",
            ),
            columns_added=tuple(c.name for c in drift.add),
            columns_widened=tuple(c.name for c in drift.widen),
        )

    def _stream(
        self,
        load: Transactions,
        plan: LoadPlan,
        cursor: CursorFilter | None,
        ranges: list[KeyRange | None],
        totals: _Totals,
        cancel: threading.Event | None,
        progress: ProgressCallback | None,
        boundary: Boundary | None,
    ) -> None:
        job = self.job
        cursor_column = next((c for c in plan.columns if c.name == job.cursor_column), None)
        own_state = self.source_caps.connector_state
        if job.extract_method == "incremental" and cursor_column is None and not own_state:
            raise ConfigurationError(f"{self.what}: the cursor column is not loaded")

        # an append or merge of a connector that keeps its own state commits at its STATE
        # points (engine.state_points); an overwrite stays one transaction
        state_points = (
            own_state
            and job.extract_method == "incremental"
            and job.load_method in ("append", "merge")
            and not plan.native
            and len(ranges) == 1
        )

        def consume_native(chunk: bytes) -> None:
            load.current.write_native(chunk)
            totals.bytes += len(chunk)
            if progress is not None:
                progress(totals.rows, totals.bytes)

        names = [c.name for c in plan.columns]

        def consume_batch(batch: pa.RecordBatch | StatePoint) -> None:
            if isinstance(batch, StatePoint):
                if state_points:
                    load.state_point(batch.state)
                return
            if batch.schema.names != names:
                batch = project(batch, names, self.what)
            if boundary is not None:
                batch = boundary.filter(batch)
                boundary.observe(batch)
            if batch.num_rows == 0:
                return
            load.current.write(batch)
            totals.rows += batch.num_rows
            totals.bytes += batch_bytes(batch)
            if cursor_column is not None:
                index = plan.columns.index(cursor_column)
                totals.cursor_max = later(
                    totals.cursor_max, arrow_max(batch.column(index), cursor_column.semantic)
                )
            if progress is not None:
                progress(totals.rows, totals.bytes)

        def producers(snapshot: str | None) -> list[Callable[[], Iterator[Any]]]:
            result: list[Callable[[], Iterator[Any]]] = []
            for key_range in ranges:
                request = ReadRequest(
                    columns=plan.columns,
                    table=job.source_ref,
                    query=job.source_query,
                    cursor=cursor,
                    key_range=key_range,
                    batch_bytes=job.batch_bytes,
                    snapshot=snapshot,
                    state_points=state_points,
                )
                read = self.source.read_native if plan.native else self.source.read
                result.append(partial(read, request))
            return result

        consume: Callable[[Any], None] = consume_native if plan.native else consume_batch

        def run(snapshot: str | None) -> None:
            transfer(
                producers(snapshot),
                consume,
                max_in_flight=job.max_batches_in_flight,
                cancel=cancel,
                on_abort=self._abort_servers,
            )

        if job.part is not None:
            run(job.part.snapshot)
        elif len(ranges) > 1 and self.source_caps.snapshot:
            with self.source.snapshot() as snapshot:
                run(snapshot)
        else:
            if len(ranges) > 1:
                self.emit(
                    "warning",
                    f"{self.what}: parallel ranges are read without a shared "
                    "snapshot (the source has none)",
                )
            run(None)

    def _abort_servers(self) -> None:
        if self.source_caps.server_side_cancel:
            self.source.cancel()

    def _new_cursor(
        self,
        loader: Loader,
        cursor: CursorFilter | None,
        totals: _Totals,
        native: bool,
        boundary: Boundary | None,
    ) -> Any:
        job = self.job
        if job.extract_method != "incremental" or not job.cursor_column:
            return None
        if boundary is not None:
            seen = boundary.value
        elif native:
            seen = loader.staged_max(job.cursor_column)
        else:
            seen = totals.cursor_max
        return later(cursor.value if cursor else None, seen)

    def _state_after(
        self, state_key: str, new_cursor: Any, boundary: Boundary | None
    ) -> CursorState | None:
        job = self.job
        if new_cursor is None or job.extract_method != "incremental":
            return None
        hashes = None
        if boundary is not None:
            if boundary.skipped:
                self.emit(
                    "info",
                    f"{self.what}: skipped {boundary.skipped} boundary row(s) "
                    "loaded by the previous run",
                )
            if boundary.hashes is None:
                self.emit(
                    "warning",
                    f"{self.what}: more than {MAX_BOUNDARY_ROWS} rows share the "
                    "last cursor value; the next run reads '>' only",
                )
            else:
                hashes = tuple(boundary.hashes)
        kind = encode_cursor(new_cursor)[1]
        return CursorState(state_key, new_cursor, kind, job.load_id, boundary=hashes)
