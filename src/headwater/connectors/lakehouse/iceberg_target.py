"""The Iceberg target: Parquet data files written during the load, one snapshot to publish them.

``begin`` opens a pyiceberg transaction (a create-table transaction for a new table) and
stages the schema changes of the load in it (new columns, Iceberg's own type promotions);
``write`` converts batches to the table's schema and writes data files of about 64 MB of
Arrow data with pyiceberg's writer (field ids, column statistics, partitions); ``commit``
adds them in one snapshot (``fast_append``; ``overwrite`` deletes every current file in the
same snapshot; ``merge`` rewrites the files holding a key of the load, copy-on-write) whose
summary carries the load id and the cursor state, and commits the transaction: the catalog
swaps the metadata pointer, so readers see the old table or the new one.

A load that fails deletes the files it wrote. A process killed before the commit leaves data
files no snapshot references: every Iceberg reader ignores them, and orphan-file maintenance
(Spark's ``remove_orphan_files``, or deleting unreferenced files older than a day) removes them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from headwater.connectors.base import (
    Column,
    CursorState,
    Loader,
    LoadPlan,
    Table,
    TableRef,
    Target,
)
from headwater.connectors.errors import (
    ConfigurationError,
    ConnectionFailed,
    ConnectorError,
    ObjectNotFound,
    ValueRejected,
)
from headwater.connectors.lakehouse.common import (
    classified,
    commit_properties,
    conform_to,
    parse_state,
    state_candidates,
    state_property,
    storage_fields,
    with_metadata,
)
from headwater.connectors.lakehouse.iceberg_catalog import open_catalog
from headwater.connectors.lakehouse.iceberg_types import (
    SEMANTICS_PROPERTY,
    arrow_schema,
    iceberg_type,
    partition_fields,
    semantics_of,
    table_columns,
    type_text,
)
from headwater.connectors.loaders import OpenLoaders
from headwater.connectors.partitioning import split_partition_text

#: Partitioned tables: Arrow data buffered per write of data files (pyiceberg splits it by
#: partition). Unpartitioned tables stream into a data file, a new one every FILE_BYTES.
FLUSH_BYTES = 64 * 1024 * 1024
FILE_BYTES = 256 * 1024 * 1024


class IcebergConnection:
    """The catalog, the default namespace and error translation, for target and source."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        try:
            self.catalog, self.warehouse = open_catalog(props, "The iceberg connection")
        except ConnectorError:
            raise
        except Exception as exc:  # the catalog's database or REST service did not answer
            raise ConnectionFailed(f"iceberg: cannot open the catalog: {exc}") from None
        self.namespace = str(props.get("namespace") or "default")
        self.what = f"iceberg {self.warehouse}"

    def close(self) -> None:
        """Release the SQL catalog's connection pool (a PostgreSQL catalog holds one)."""
        engine = getattr(self.catalog, "engine", None)
        if engine is not None:
            engine.dispose()

    def identifier(self, ref: TableRef) -> tuple[str, str]:
        return (ref.schema or self.namespace, ref.name)

    def load(self, ref: TableRef) -> Any | None:
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        with self.errors(ref.display()):
            try:
                return self.catalog.load_table(self.identifier(ref))
            except (NoSuchTableError, NoSuchNamespaceError):
                return None

    def tables(self, namespace: str) -> list[str]:
        from pyiceberg.exceptions import NoSuchNamespaceError

        with self.errors(namespace):
            try:
                return sorted(ident[-1] for ident in self.catalog.list_tables(namespace))
            except NoSuchNamespaceError:
                return []

    def errors(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Catalog and storage failures as classified connector errors naming the table."""
        from pyiceberg.exceptions import CommitFailedException, NoSuchTableError

        return classified(
            self.what,
            name,
            [
                (NoSuchTableError, lambda _: ObjectNotFound(f"{self.what}: {name!r} not found")),
                (
                    CommitFailedException,
                    lambda exc: ConnectionFailed(
                        f"{self.what}: {name}: another writer committed first ({exc}); retry"
                    ),
                ),
            ],
        )


def find_state(table: Any, state_key: str) -> CursorState | None:
    """The newest state for ``state_key`` among the current snapshot and its ancestors."""
    name = state_property(state_key)
    snapshot = table.current_snapshot()
    while snapshot is not None:
        text = snapshot.summary[name] if snapshot.summary is not None else None
        if text:
            return parse_state(text, state_key)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return None


def current_files(metadata: Any, io: Any) -> list[Any]:
    """The data files of the table's current snapshot."""
    from pyiceberg.manifest import ManifestContent

    snapshot = metadata.current_snapshot()
    if snapshot is None:
        return []
    files = []
    for manifest in snapshot.manifests(io):
        if manifest.content != ManifestContent.DATA:
            continue
        files += [e.data_file for e in manifest.fetch_manifest_entry(io, discard_deleted=True)]
    return files


class IcebergTarget(Target):
    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(props)
        self.conn = IcebergConnection(self.props)
        #: The connection's default partition fields; a river table's ``partition_by`` wins.
        self.partition_by = split_partition_text(str(self.props.get("partition_by") or ""))
        self._loaders: OpenLoaders[IcebergLoader] = OpenLoaders()

    def test(self) -> None:
        with self.conn.errors("catalog"):
            self.conn.catalog.list_namespaces()

    def default_schema(self) -> str | None:
        return self.conn.namespace

    def describe(self, ref: TableRef) -> Table | None:
        table = self.conn.load(ref)
        return None if table is None else Table(ref, table_columns(table))

    def type_for(self, column: Column) -> str:
        return type_text(column, self.conn.what)

    def read_state(self, state_schema: str | None, state_key: str) -> CursorState | None:
        namespace = state_schema or self.conn.namespace
        for name in state_candidates(state_key, namespace, self.conn.tables(namespace)):
            table = self.conn.load(TableRef(name, namespace))
            if table is not None and (state := find_state(table, state_key)) is not None:
                return state
        return None

    def begin(self, plan: LoadPlan) -> Loader:
        if plan.native:
            raise ConfigurationError("the iceberg target takes Arrow batches only")
        with self.conn.errors(plan.target.display()):
            return self._loaders.add(IcebergLoader(self, plan))

    def close(self) -> None:
        self._loaders.abort_all()
        self.conn.close()


class IcebergLoader(Loader):
    def __init__(self, target: IcebergTarget, plan: LoadPlan) -> None:
        self.target, self.plan, self.conn = target, plan, target.conn
        self.what = f"{self.conn.what} {plan.target.display()}"
        self.files: list[Any] = []
        self.written: list[str] = []
        self.buffer: list[pa.RecordBatch] = []
        self.buffered = 0
        self.rows = 0
        self.write_uuid = uuid.uuid4()
        self.counter = itertools.count(0)
        fields = storage_fields(plan.columns, plan.metadata is not None, self.what)
        semantics = {f.name: s for f, s in fields if s}
        table = self.conn.load(plan.target)
        self.existed = table is not None
        if table is None:
            self.txn = self._create(fields, semantics)
        else:
            self.txn = table.transaction()
            self._evolve(table, [f for f, _ in fields])
            merged = {**semantics_of(table.properties), **semantics}
            if plan.method == "overwrite":
                merged = semantics
            self.txn.set_properties({SEMANTICS_PROPERTY: json.dumps(merged, sort_keys=True)})
        self.io = self.txn._table.io
        self.schema = arrow_schema(self.txn.table_metadata.schema())
        self.stream: _DataFileStream | None = None
        self.streaming = self.txn.table_metadata.spec().is_unpartitioned()
        self.active = True

    # -- schema -------------------------------------------------------------------------------

    def _create(self, fields: list[tuple[pa.Field, str | None]], semantics: dict[str, str]) -> Any:
        ident = self.conn.identifier(self.plan.target)
        self.conn.catalog.create_namespace_if_not_exists(ident[0])
        schema = pa.schema([f for f, _ in fields])
        wanted = self.plan.partition_by or self.target.partition_by
        parts = partition_fields(wanted, schema.names, self.what)
        for column, transform, _ in parts:
            source_type = iceberg_type(schema.field(column).type)
            if not transform.can_transform(source_type):
                raise ConfigurationError(
                    f"{self.what}: partition_by {transform} cannot apply to column {column!r} "
                    f"of type {source_type}"
                )
        txn = self.conn.catalog.create_table_transaction(
            ident,
            schema=schema,
            properties={SEMANTICS_PROPERTY: json.dumps(semantics, sort_keys=True)},
        )
        if parts:
            with txn.update_spec() as spec:
                for column, transform, name in parts:
                    spec.add_field(column, transform, name)
        return txn

    def _evolve(self, table: Any, fields: list[pa.Field]) -> None:
        """New columns added; changed types promoted where Iceberg allows (int to long, float
        to double, a wider decimal); an overwrite replaces what cannot be promoted."""
        from pyiceberg.exceptions import ResolveError
        from pyiceberg.schema import promote

        schema = table.schema()
        current = {f.name: f.field_type for f in schema.fields}
        wanted = {f.name: iceberg_type(f.type) for f in fields}
        overwrite = self.plan.method == "overwrite"
        promoted, replaced = {}, []
        for name, new_type in wanted.items():
            old = current.get(name)
            if old is None or old == new_type:
                continue
            try:
                promote(old, new_type)
                promoted[name] = new_type
            except ResolveError:
                if overwrite:
                    replaced.append(name)
        partition_sources = {schema.find_column_name(f.source_id) for f in table.spec().fields}
        dropped = [n for n in current if overwrite and n not in wanted]
        dropped = [n for n in dropped + replaced if n not in partition_sources]
        if dropped:
            with self.txn.update_schema(allow_incompatible_changes=True) as update:
                for name in dropped:
                    update.delete_column(name)
        missing = [n for n in wanted if n not in current or n in dropped]
        if missing or promoted:
            with self.txn.update_schema() as update:
                for name in missing:
                    update.add_column(name, wanted[name])
                for name, new_type in promoted.items():
                    update.update_column(name, field_type=new_type)

    # -- writing ------------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        batch = conform_to(with_metadata(batch, self.plan.metadata), self.schema, self.what)
        self.rows += batch.num_rows
        if self.streaming:
            with self.conn.errors(self.plan.target.display()):
                if self.stream is None:
                    self.stream = _DataFileStream(self.txn.table_metadata, self.io, self.schema)
                    self.written.append(self.stream.path)
                self.stream.write(batch)
                if self.stream.bytes >= FILE_BYTES:
                    self._flush()
            return
        self.buffer.append(batch)
        self.buffered += batch.nbytes
        if self.buffered >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            self.files.append(stream.close())
        if not self.buffer:
            return
        table = pa.Table.from_batches(self.buffer, schema=self.schema)
        self.buffer, self.buffered = [], 0
        self.files += self._write_files(table)

    def _write_files(self, table: pa.Table) -> list[Any]:
        from pyiceberg.io.pyarrow import _dataframe_to_data_files

        with self.conn.errors(self.plan.target.display()):
            files = list(
                _dataframe_to_data_files(
                    self.txn.table_metadata, table, self.io, self.write_uuid, self.counter
                )
            )
        self.written += [f.file_path for f in files]
        return files

    def staged_max(self, column: str) -> Any:
        return None  # Arrow batches only: the engine tracks the maxima

    # -- committing ---------------------------------------------------------------------------

    def commit(self, state: CursorState | None) -> int:
        display = self.plan.target.display()
        with self.conn.errors(display):
            self._flush()
            props = commit_properties(state, self.plan.load_id)
            snapshot = self.txn.update_snapshot(snapshot_properties=props)
            if self.existed and self.plan.method == "merge":
                with snapshot.overwrite() as producer:
                    self._merge(producer)
            elif self.existed and self.plan.method == "overwrite":
                with snapshot.overwrite() as producer:
                    for data_file in current_files(self.txn.table_metadata, self.io):
                        producer.delete_data_file(data_file)
                    for data_file in self.files:
                        producer.append_data_file(data_file)
            else:
                with snapshot.fast_append() as producer:
                    for data_file in self.files:
                        producer.append_data_file(data_file)
            self.txn.commit_transaction()
            self.active = False
        return self.rows

    def _merge(self, producer: Any) -> None:
        """Copy-on-write upsert: every current file holding a key of the load is rewritten
        without those rows, in the snapshot that adds the load's files."""
        from pyiceberg.expressions import AlwaysTrue
        from pyiceberg.io.pyarrow import ArrowScan
        from pyiceberg.table import FileScanTask

        keys = list(self.plan.merge_keys)
        incoming = self._staged_keys(keys)
        metadata = self.txn.table_metadata
        if incoming.num_rows:
            scan = ArrowScan(metadata, self.io, metadata.schema(), AlwaysTrue())
            for data_file in current_files(metadata, self.io):
                existing = scan.to_table([FileScanTask(data_file)])
                keep = _rows_without_keys(existing, incoming, keys)
                if keep is None:
                    continue
                producer.delete_data_file(data_file)
                if len(keep):
                    rows = existing.take(keep)
                    rows = pa.Table.from_batches(
                        [conform_to(b, self.schema, self.what) for b in rows.to_batches()],
                        schema=self.schema,
                    )
                    for new_file in self._write_files(rows):
                        producer.append_data_file(new_file)
        for data_file in self.files:
            producer.append_data_file(data_file)

    def _staged_keys(self, keys: list[str]) -> pa.Table:
        parts = []
        for data_file in self.files:
            with self.io.new_input(data_file.file_path).open() as handle:
                parts.append(pq.read_table(handle, columns=keys))
        key_schema = pa.schema([self.schema.field(k) for k in keys])
        table = pa.concat_tables(parts) if parts else key_schema.empty_table()
        table = table.cast(key_schema)
        if table.num_rows and table.group_by(keys).aggregate([]).num_rows != table.num_rows:
            raise ValueRejected(
                f"{self.what}: merge keys ({', '.join(keys)}) repeat within the load; "
                "a merge needs one row per key"
            )
        return table

    def abort(self) -> None:
        if not self.active:
            return
        self.active = False
        self.buffer = []
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.close()
        for path in self.written:
            with contextlib.suppress(Exception):
                self.io.delete(path)


def _rows_without_keys(existing: pa.Table, incoming: pa.Table, keys: list[str]) -> Any:
    """Indices of ``existing`` rows whose key is not in ``incoming``; None when all stay."""
    if existing.num_rows == 0:
        return None
    index = pa.table(
        {
            **{k: existing.column(k).cast(incoming.schema.field(k).type) for k in keys},
            "_hw_row": pa.array(range(existing.num_rows), pa.int64()),
        }
    )
    kept = index.join(incoming, keys=keys, join_type="left anti").column("_hw_row")
    if len(kept) == existing.num_rows:
        return None
    return pc.take(kept, pc.sort_indices(kept))


class _DataFileStream:
    """One data file of an unpartitioned table written batch by batch (bounded memory), with
    pyiceberg's own Parquet writer: field ids, sanitised column names and column statistics
    exactly as ``Table.append`` writes them."""

    def __init__(self, metadata: Any, io: Any, schema: pa.Schema) -> None:
        from pyiceberg.io.pyarrow import ParquetFormatModel, pyarrow_to_schema
        from pyiceberg.schema import sanitize_column_names
        from pyiceberg.table.locations import load_location_provider

        table_schema = metadata.schema()
        self.file_schema = sanitize_column_names(table_schema)
        self.task_schema = pyarrow_to_schema(
            schema, name_mapping=table_schema.name_mapping, format_version=metadata.format_version
        )
        self.model = ParquetFormatModel()
        self.metadata = metadata
        provider = load_location_provider(
            table_location=metadata.location, table_properties=metadata.properties
        )
        name = f"00000-{uuid.uuid4()}.parquet"
        self.path = provider.new_data_location(data_file_name=name)
        self.output = io.new_output(self.path)
        self.writer = self.model.create_writer(self.output, self.file_schema, metadata.properties)
        self.bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        from pyiceberg.io.pyarrow import _to_requested_schema

        converted = _to_requested_schema(
            requested_schema=self.file_schema,
            file_schema=self.task_schema,
            batch=batch,
            include_field_ids=True,
            format_model=self.model,
        )
        self.writer.write(pa.Table.from_batches([converted]))
        self.bytes += batch.nbytes

    def close(self) -> Any:
        from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
        from pyiceberg.typedef import Record

        statistics = self.writer.close()
        return DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=self.path,
            file_format=FileFormat.PARQUET,
            partition=Record(),
            file_size_in_bytes=len(self.output),
            sort_order_id=None,
            spec_id=self.metadata.default_spec_id,
            equality_ids=None,
            key_metadata=None,
            **statistics.to_serialized_dict(),
        )
