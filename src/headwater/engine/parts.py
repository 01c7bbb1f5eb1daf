"""One table's load split into ranges that separate processes stage, then one publish.

The runner (``runner/parts.py``) decides who does what and records it; this module only
knows the connectors: which ranges a table splits into (:func:`plan_ranges`), the snapshot the
parts share (:func:`hold_snapshot`), the job of one part (:func:`part_job`: an ``overwrite``
of the part's own staging table, no state), the publish of the committed parts in one target
transaction (:func:`publish_parts`) and the clean-up when the run fails
(:func:`drop_part_tables`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from headwater.connectors.base import CursorState, KeyRange, LoadPlan, MetadataColumns, TableRef
from headwater.connectors.errors import ConnectorError, JobFailed
from headwater.connectors.registry import Registry
from headwater.connectors.values import decode_cursor, encode_cursor, later
from headwater.engine.jobs import PartSlice, TableJob, TableResult
from headwater.engine.metering import DEFAULT_POLICY, MeteringPolicy, compute_units
from headwater.engine.pipeline import _Emitter, opened_run


@dataclass(frozen=True)
class PartDone:
    """What a committed part left for the publish: its staging table and figures."""

    staging: str
    rows: int
    bytes: int
    cursor_value: str | None = None
    cursor_type: str | None = None


def refusal(job: TableJob, registry: Registry) -> str | None:
    """Why this job cannot be split across workers (from capabilities), or ``None``."""
    if job.parallel_partitions < 2:
        return "parallel_partitions is below 2"
    if job.extract_method == "cdc":
        return "change capture reads its own snapshot chunks"
    if job.source_ref is None:
        return "a custom query has no ranges to split"
    source = registry.get(job.source_connector).capabilities
    target = registry.get(job.target_connector).capabilities
    if not source.key_ranges:
        return f"the {job.source_connector} source cannot read key ranges"
    if source.connector_state:
        return "the source keeps its own state"
    if not (target.publishes_parts and target.concurrent_loads):
        return f"the {job.target_connector} target cannot publish parts loaded concurrently"
    return None


def plan_ranges(job: TableJob, registry: Registry) -> list[KeyRange]:
    """The table's ranges: of the partition column or the single-column key, else of the
    source's pages (PostgreSQL ``ctid``); fewer than two means it does not split."""
    assert job.source_ref is not None
    source = registry.open_source(job.source_connector, job.source_props)
    try:
        source.configure(job.source_options, None)
        key = job.partition_column
        if key is None:
            keys = [c.name for c in source.describe(job.source_ref).columns if c.primary_key]
            key = keys[0] if len(keys) == 1 else None
        if key is not None:
            return list(source.plan_key_ranges(job.source_ref, key, job.parallel_partitions))
        return list(source.plan_page_ranges(job.source_ref, job.parallel_partitions))
    finally:
        source.close()


@contextlib.contextmanager
def hold_snapshot(job: TableJob, registry: Registry) -> Iterator[str | None]:
    """A snapshot every part reads in (held open by the coordinator), or ``None``."""
    if not registry.get(job.source_connector).capabilities.snapshot:
        yield None
        return
    source = registry.open_source(job.source_connector, job.source_props)
    try:
        with source.snapshot() as snapshot:
            yield snapshot
    finally:
        source.close()


def staging_name(load_id: str, part: int, attempt: int) -> str:
    """A part attempt's own table: a late writer of an attempt taken over never touches the
    table of the attempt that committed."""
    digest = hashlib.sha1(load_id.encode()).hexdigest()[:16]
    return f"_hw_part_{digest}_{part}_a{attempt}"


def part_job(job: TableJob, key_range: KeyRange, staging: str, snapshot: str | None) -> TableJob:
    """The job of one part: its range, overwritten into its staging table, no state."""
    return replace(
        job,
        target_table=staging,
        target_prefix="",
        load_method="overwrite",
        add_metadata_columns=False,
        partition_by=(),
        parallel_partitions=1,
        schema_drift="evolve",
        # the cursor is read from (never written to) the real table's state row
        part=PartSlice(key_range, staging, job.target_name(), snapshot),
    )


def publish_parts(
    job: TableJob,
    parts: Sequence[PartDone],
    *,
    registry: Registry,
    metering: MeteringPolicy = DEFAULT_POLICY,
    log: Any = None,
) -> TableResult:
    """Apply the job's load method from the committed parts' tables, write the state (the
    latest of the parts' cursors) and drop the part tables, in one target transaction."""
    emit = _Emitter(log)
    started = datetime.now(UTC)
    what = f"{job.source_display()} -> {job.target_name()}"
    try:
        with opened_run(job, registry, emit, what, metering) as run:
            _columns, target_ref, existing, drift = run.reconciled_target()
            state_key = job.resolved_state_key(target_ref.schema)
            cursor = None
            for done in parts:
                if done.cursor_value is not None and done.cursor_type is not None:
                    cursor = later(cursor, decode_cursor(done.cursor_value, done.cursor_type))
            state = None
            if job.extract_method == "incremental" and cursor is not None:
                state = CursorState(state_key, cursor, encode_cursor(cursor)[1], job.load_id)
            plan = LoadPlan(
                target=target_ref,
                columns=drift.columns,
                method=job.load_method,
                existing=existing,
                merge_keys=tuple(job.merge_keys),
                metadata=MetadataColumns(job.load_id, started)
                if job.add_metadata_columns
                else None,
                add_columns=drift.add,
                widen_columns=drift.widen,
                state_schema=target_ref.schema,
                load_id=job.load_id,
                partition_by=job.partition_by,
                from_tables=tuple(TableRef(p.staging, target_ref.schema) for p in parts),
                from_rows=tuple(p.rows for p in parts),
            )
            rows = run.target.begin(plan).commit(state)
    except ConnectorError as exc:
        raise JobFailed(f"Table {what}: {exc}", transient=exc.transient, cause=exc) from exc
    size = sum(p.bytes for p in parts)
    emit("info", f"{what}: published {rows} rows from {len(parts)} parts")
    text: str | None = None
    kind: str | None = None
    if state is not None:
        text, kind = encode_cursor(cursor)
    return TableResult(
        source=job.source_display(),
        target=target_ref.display(),
        rows=rows,
        bytes=size,
        load_id=job.load_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        cursor_value=text,
        cursor_type=kind,
        partitions=len(parts),
        units=compute_units(size, succeeded=True, policy=metering),
        columns_added=tuple(c.name for c in drift.add),
        columns_widened=tuple(c.name for c in drift.widen),
    )


def drop_part_tables(job: TableJob, names: Sequence[str], registry: Registry) -> None:
    """Drop part tables of a run that will not publish (a part failed for good, a cancel):
    an overwrite load with no rows of its own is not needed; each is dropped on its own."""
    if not names:
        return
    target = registry.open_target(job.target_connector, job.target_props)
    try:
        schema = job.target_schema or target.default_schema()
        target.drop_tables([TableRef(name, schema) for name in names])
    finally:
        target.close()
