"""The Delta target: Parquet parts written during the load, one log version to publish them.

``write`` streams batches into Parquet parts (a new part every ~128 MB of Arrow data).
``commit`` publishes them in one Delta transaction whose commit info carries the load id and
the cursor state: a new table is created with its files in version 0; ``overwrite`` replaces
the schema and every file in one version; ``append`` adds the parts in one version. When an
append brings new columns, or for ``merge``, the parts are a staging copy under
``_hw_staging/`` that delta-rs reads back in the one commit that evolves the schema
(``schema_mode='merge'``) or upserts (``merge ... when_matched_update_all ...
when_not_matched_insert_all``); the copy is deleted afterwards.

A table created with ``LoadPlan.partition_by`` (column names: Delta has identity partitions
only) gets its parts written per partition value into ``col=value/`` folders, without the
partition columns, and their add actions carry the values (``delta_partitions``); an existing
table keeps its partition columns.

Delta has no type widening: a column whose source type widens keeps its Delta type and a value
that does not fit fails the load naming the column (``overwrite`` replaces the type).

A failed load deletes its parts. A process killed before the commit leaves parts no log
version lists: Delta readers ignore them and ``VACUUM`` deletes them.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from headwater.connectors.base import Column, CursorState, Loader, LoadPlan, Table, TableRef, Target
from headwater.connectors.errors import ConfigurationError
from headwater.connectors.lakehouse.common import (
    commit_properties,
    conform_to,
    state_candidates,
    storage_fields,
    storage_type,
    with_metadata,
)
from headwater.connectors.lakehouse.delta_conn import DeltaConnection
from headwater.connectors.lakehouse.delta_partitions import (
    PartitionKey,
    delta_partition_columns,
    folder,
    split,
)
from headwater.connectors.lakehouse.delta_types import (
    delta_field,
    schema_json,
    stored_schema,
    table_columns,
    to_stored,
    type_text,
)
from headwater.connectors.loaders import OpenLoaders

PART_BYTES = 128 * 1024 * 1024
STAGING = "_hw_staging"


class DeltaTarget(Target):
    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(props)
        self.conn = DeltaConnection(self.props)
        self._loaders: OpenLoaders[DeltaLoader] = OpenLoaders()

    def test(self) -> None:
        with self.conn.storage.errors(""):
            fs = self.conn.storage.fs
            if self.conn.storage.is_local:
                fs.makedirs(self.conn.storage.root, exist_ok=True)
            else:
                fs.ls(self.conn.storage.root.split("/", 1)[0], detail=False)

    def default_schema(self) -> str | None:
        return self.conn.schema

    def describe(self, ref: TableRef) -> Table | None:
        table = self.conn.open(ref)
        return None if table is None else Table(ref, table_columns(table))

    def type_for(self, column: Column) -> str:
        field = delta_field(pa.field(column.name, storage_type(column, self.conn.what)), None)
        text = type_text(schema_json(pa.schema([field]))[0]["type"])
        return f"{text} ({column.semantic})" if column.semantic else text

    def read_state(self, state_schema: str | None, state_key: str) -> CursorState | None:
        schema = state_schema or self.conn.schema
        for name in state_candidates(state_key, schema, self.conn.tables(schema)):
            table = self.conn.open(TableRef(name, schema))
            if table is not None and (
                state := self.conn.find_state(TableRef(name, schema), table, state_key)
            ):
                return state
        return None

    def begin(self, plan: LoadPlan) -> Loader:
        if plan.native:
            raise ConfigurationError("the delta target takes Arrow batches only")
        return self._loaders.add(DeltaLoader(self, plan))

    def close(self) -> None:
        self._loaders.abort_all()
        self.conn.close()


class DeltaLoader(Loader):
    def __init__(self, target: DeltaTarget, plan: LoadPlan) -> None:
        self.conn, self.plan = target.conn, plan
        self.what = f"{self.conn.what} {plan.target.display()}"
        self.folder = self.conn.folder(plan.target)
        self.table = self.conn.open(plan.target)
        self.tag = f"{(plan.load_id or uuid.uuid4().hex)[:12]}-{uuid.uuid4().hex[:8]}"
        loaded = [
            delta_field(f, s)
            for f, s in storage_fields(plan.columns, plan.metadata is not None, self.what)
        ]
        self.evolving = False
        if self.table is not None and plan.method != "overwrite":
            current = stored_schema(self.table)
            missing = [f for f in loaded if f.name not in current.names]
            self.evolving = bool(missing)
            self.schema = pa.schema([*current, *missing])
        else:
            self.schema = pa.schema(loaded)
        self.staged = self.table is not None and (plan.method == "merge" or self.evolving)
        self.parts_dir = f"{self.folder}/{STAGING}/{self.tag}" if self.staged else self.folder
        # A new table takes the river's partition columns; an existing one keeps its own.
        wanted = plan.partition_by
        if self.table is not None:
            wanted = tuple(self.table.metadata().partition_columns)
        self.partition_by = delta_partition_columns(wanted, self.schema, self.what)
        # Staged copies are whole rows: delta-rs partitions them when it commits.
        self.split_by = [] if self.staged else self.partition_by
        self.file_schema = pa.schema([f for f in self.schema if f.name not in self.split_by])
        #: Closed parts: (path under parts_dir, rows, partition values).
        self.parts: list[tuple[str, int, dict[str, str | None]]] = []
        self.open_parts: dict[PartitionKey, _Part] = {}
        self.rows = self.counter = 0
        self.active = True

    # -- writing ------------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        batch = with_metadata(batch, self.plan.metadata)
        arrays = []
        names = batch.schema.names
        for field in self.schema:
            if field.name in names:
                arrays.append(to_stored(batch.column(names.index(field.name)), field))
            else:
                arrays.append(pa.nulls(batch.num_rows, field.type))
        plain = pa.schema([pa.field(f.name, f.type) for f in self.schema])
        batch = conform_to(pa.RecordBatch.from_arrays(arrays, schema=plain), plain, self.what)
        pieces = split(batch, self.split_by) if self.split_by else [((), batch)]
        with self.conn.storage.errors(self.plan.target.display()):
            for key, piece in pieces:
                part = self.open_parts.get(key) or self._open_part(key)
                part.writer.write_batch(piece)
                part.rows += piece.num_rows
                part.bytes += piece.nbytes
                if part.bytes >= PART_BYTES:
                    self._close_part(key)
        self.rows += batch.num_rows

    def _open_part(self, key: PartitionKey) -> _Part:
        prefix = f"{folder(self.split_by, key)}/" if key else ""
        name = f"{prefix}part-{self.tag}-{self.counter:05d}.zstd.parquet"
        self.counter += 1
        handle = self.conn.storage.open(f"{self.parts_dir}/{name}", "wb")
        writer = pq.ParquetWriter(handle, self.file_schema, compression="zstd")
        part = _Part(name, handle, writer, dict(zip(self.split_by, key, strict=True)))
        self.open_parts[key] = part
        return part

    def _close_part(self, key: PartitionKey | None = None) -> None:
        """Close one open part, or every one (``key`` None)."""
        for k in list(self.open_parts) if key is None else [key]:
            part = self.open_parts.pop(k)
            try:
                part.writer.close()
            finally:
                part.handle.close()
            self.parts.append((part.name, part.rows, part.values))

    def staged_max(self, column: str) -> Any:
        return None

    # -- committing ---------------------------------------------------------------------------

    def commit(self, state: CursorState | None) -> int:
        from deltalake import CommitProperties

        display = self.plan.target.display()
        with self.conn.storage.errors(display):
            self._close_part()
        properties = CommitProperties(custom_metadata=commit_properties(state, self.plan.load_id))
        with self.conn.errors(display):
            if self.staged:
                self._commit_staged(properties)
            else:
                self._commit_parts(properties)
        self.active = False
        if self.staged:
            self._remove_parts()
        return self.rows

    def _add_actions(self) -> list[Any]:
        from deltalake.transaction import AddAction

        fs = self.conn.storage.fs
        now = int(time.time() * 1000)
        actions = []
        for name, rows, values in self.parts:
            size = int(fs.size(f"{self.parts_dir}/{name}"))
            stats = json.dumps({"numRecords": rows})
            actions.append(AddAction(name, size, values, now, True, stats))
        return actions

    def _commit_parts(self, properties: Any) -> None:
        from deltalake import Schema as DeltaSchema
        from deltalake._internal import create_table_with_add_actions

        actions = self._add_actions()
        schema = DeltaSchema.from_arrow(self.schema)
        if self.table is None or self.plan.method == "overwrite":
            mode: Literal["error", "overwrite"] = "error" if self.table is None else "overwrite"
            create_table_with_add_actions(
                self.conn.uri(self.plan.target),
                schema,
                actions,
                mode,
                self.partition_by,
                None,
                None,
                None,
                self.conn.options,
                properties,
                None,
            )
        else:
            self.table.create_write_transaction(
                actions,
                "append",
                self.table.schema(),
                self.partition_by or None,
                commit_properties=properties,
            )

    def _staged_reader(self) -> pa.RecordBatchReader:
        import pyarrow.dataset as ds
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        fs = PyFileSystem(FSSpecHandler(self.conn.storage.fs))
        paths = [f"{self.parts_dir}/{name}" for name, _, _ in self.parts]
        dataset = ds.dataset(paths, schema=self.schema, format="parquet", filesystem=fs)
        return pa.RecordBatchReader.from_batches(self.schema, dataset.to_batches())

    def _commit_staged(self, properties: Any) -> None:
        from deltalake import write_deltalake

        assert self.table is not None
        source = self._staged_reader()
        if self.plan.method != "merge":
            write_deltalake(
                self.table,
                source,
                mode="append",
                schema_mode="merge",
                commit_properties=properties,
            )
            return
        predicate = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in self.plan.merge_keys)
        (
            self.table.merge(
                source,
                predicate,
                source_alias="s",
                target_alias="t",
                merge_schema=True,
                commit_properties=properties,
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )

    def _remove_parts(self) -> None:
        fs = self.conn.storage.fs
        for name, _, _ in self.parts:
            with contextlib.suppress(Exception):
                fs.rm(f"{self.parts_dir}/{name}")
        if self.staged:
            with contextlib.suppress(Exception):
                fs.rm(self.parts_dir, recursive=True)
            if self.conn.storage.is_local:  # an empty staging folder would linger
                with contextlib.suppress(OSError):
                    os.rmdir(f"{self.folder}/{STAGING}")

    def abort(self) -> None:
        if not self.active:
            return
        self.active = False
        with contextlib.suppress(Exception):
            self._close_part()
        self._remove_parts()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Part:
    """One open Parquet part (of one partition, for a partitioned table)."""

    def __init__(self, name: str, handle: Any, writer: Any, values: dict[str, str | None]):
        self.name, self.handle, self.writer, self.values = name, handle, writer, values
        self.rows = self.bytes = 0
