"""File targets: Parquet or CSV parts under ``<root>/<table>/``, committed by a manifest.

Neither a folder nor a bucket has transactions, so a load is made atomic the way table formats
do it: parts are written under ``<table>/_hw_staging/<load id>/``; on commit they are moved to
their final names (a rename locally; copy + delete on S3), then ``_manifest.json`` is replaced
in one step (a local rename, a single S3 PUT). The manifest lists the table's files, schema and
cursor states: it is the commit point, so readers that follow it (Headwater's own file source
does) see the old files or the new ones, never a half-written load, and the cursor advances
exactly when the data does. ``_SUCCESS`` (holding the load id) is written after the manifest for
tools that wait for that marker. ``overwrite`` then deletes the previous load's files; an
aborted load deletes its staging folder and leaves the table untouched. Partitioning writes
``column=value/`` (or ``run_date=YYYY-MM-DD/``) folders, Hive style.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from headwater.connectors.base import (
    Column,
    CursorState,
    Loader,
    LoadPlan,
    MetadataColumns,
    Table,
    TableRef,
    Target,
)
from headwater.connectors.errors import ConfigurationError
from headwater.connectors.files.fs import MANIFEST, STAGING, STATE_DIR, SUCCESS, open_storage
from headwater.connectors.files.shape import decode_schema, encode_schema, is_nested, to_json_text
from headwater.connectors.loaders import OpenLoaders
from headwater.connectors.values import decode_cursor, encode_cursor

RUN_DATE = "run_date"
_MAX_OPEN_PARTS = 32
_METADATA_TYPES = {
    MetadataColumns.LOADED_AT: pa.timestamp("us", tz="UTC"),
    MetadataColumns.LOAD_ID: pa.string(),
}


def type_text(column: Column) -> str:
    return f"{column.arrow_type} ({column.semantic})" if column.semantic else str(column.arrow_type)


def _partition_value(value: Any) -> str:
    if value is None or value == "":
        return "__HIVE_DEFAULT_PARTITION__"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "".join(c if c.isalnum() or c in "-_.:" else "_" for c in text) or "_"


class FilesTarget(Target):
    kind = "local_files"

    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(props)
        self.storage = open_storage(self.kind, self.props)
        self.file_format = str(self.props.get("file_format") or "parquet").lower()
        if self.file_format not in ("parquet", "csv"):
            raise ConfigurationError(
                f"{self.storage.what}: target file_format must be parquet or csv"
            )
        self.partition_by = str(self.props.get("partition_by") or "") or None
        self.compression = str(self.props.get("compression") or "") or None
        self._loaders: OpenLoaders[FilesLoader] = OpenLoaders()

    def table_dir(self, ref: TableRef) -> str:
        return self.storage.full(f"{ref.schema}/{ref.name}" if ref.schema else ref.name)

    def test(self) -> None:
        with self.storage.errors(""):
            if self.storage.is_local:
                self.storage.fs.makedirs(self.storage.root, exist_ok=True)
            else:
                self.storage.fs.ls(self.storage.root.split("/", 1)[0], detail=False)

    def describe(self, ref: TableRef) -> Table | None:
        manifest = self.manifest(ref)
        if manifest is None:
            return None
        schema = decode_schema(manifest["schema"])
        columns = []
        for field, meta in zip(schema, manifest["columns"], strict=True):
            columns.append(
                Column(
                    name=field.name,
                    source_type=meta["type"],
                    arrow_type=field.type,
                    semantic=meta.get("semantic"),
                    dialect="arrow",
                )
            )
        return Table(ref, tuple(columns))

    def manifest(self, ref: TableRef) -> dict[str, Any] | None:
        with self.storage.errors(ref.display()):
            return self.storage.read_json(posixpath.join(self.table_dir(ref), MANIFEST))

    def type_for(self, column: Column) -> str:
        return type_text(column)

    def _pointer(self, state_key: str) -> str:
        digest = hashlib.sha1(state_key.encode()).hexdigest()
        return self.storage.full(f"{STATE_DIR}/{digest}.json")

    def read_state(self, state_schema: str | None, state_key: str) -> CursorState | None:
        """The state lives in the manifest of the table it describes; a pointer file names it."""
        with self.storage.errors(state_key):
            pointer = self.storage.read_json(self._pointer(state_key))
            if pointer is None:
                return None
            manifest = self.storage.read_json(posixpath.join(pointer["table"], MANIFEST))
        state = (manifest or {}).get("states", {}).get(state_key)
        if not state:
            return None
        return CursorState(
            state_key,
            decode_cursor(state["value"], state["kind"]),
            state["kind"],
            state["load_id"],
            datetime.fromisoformat(state["updated_at"]),
            boundary=None if state.get("boundary") is None else tuple(state["boundary"]),
        )

    def begin(self, plan: LoadPlan) -> Loader:
        if plan.method == "merge":
            raise ConfigurationError(f"{self.storage.what}: file targets cannot merge")
        if plan.native:
            raise ConfigurationError("file targets take Arrow batches only")
        return self._loaders.add(FilesLoader(self, plan))

    def close(self) -> None:
        self._loaders.abort_all()
        self.storage.close()


def _refuse_binary_in_csv(fields: list[pa.Field], what: str) -> None:
    """CSV is text: raw bytes (``bytea``, ``varbinary``) would be written as invalid UTF-8 or
    read back as text, so such columns are refused before anything is written."""
    binary = [
        f.name
        for f in fields
        if pa.types.is_binary(f.type)
        or pa.types.is_large_binary(f.type)
        or pa.types.is_fixed_size_binary(f.type)
    ]
    if binary:
        raise ConfigurationError(
            f"{what}: column(s) {', '.join(map(repr, binary))}: binary values cannot be "
            "written to CSV (a CSV file holds text, and bytes that are not UTF-8 have no text "
            "form); write parquet, leave the column out, or encode it in a source query "
            "(e.g. HEX(col) in MySQL, encode(col, 'hex') in PostgreSQL)"
        )


def _as_csv_text(arrow_type: pa.DataType) -> bool:
    """Columns a CSV file holds as text of our making: nested values (JSON), intervals (ISO
    8601 ``P<months>M<days>DT<seconds>S``, which the CSV writer has no rendering for)."""
    return is_nested(arrow_type) or pa.types.is_interval(arrow_type)


def _iso_intervals(array: pa.Array) -> pa.Array:
    return pa.array(
        [
            None if v is None else f"P{v.months}M{v.days}DT{Decimal(v.nanoseconds) / 10**9:f}S"
            for v in array.to_pylist()
        ],
        pa.string(),
    )


class FilesLoader(Loader):
    def __init__(self, target: FilesTarget, plan: LoadPlan) -> None:
        self.target, self.plan = target, plan
        self.storage = target.storage
        self.table_dir = target.table_dir(plan.target)
        self.load_id = plan.load_id or uuid.uuid4().hex
        # Unique per loader even when a job (and its load id) is run twice.
        self.tag = f"{self.load_id[:12]}-{uuid.uuid4().hex[:8]}"
        self.stage = posixpath.join(self.table_dir, STAGING, self.tag)
        self.started = plan.metadata.loaded_at if plan.metadata else datetime.now(UTC)
        self.ext = "parquet" if target.file_format == "parquet" else "csv"
        fields = [pa.field(c.name, c.arrow_type) for c in plan.columns]
        if target.file_format == "csv":
            _refuse_binary_in_csv(fields, target.storage.what)
            fields = [pa.field(f.name, pa.string()) if _as_csv_text(f.type) else f for f in fields]
        if plan.metadata is not None:
            fields += [pa.field(n, t) for n, t in _METADATA_TYPES.items()]
        if target.file_format == "parquet":
            intervals = [f.name for f in fields if pa.types.is_interval(f.type)]
            if intervals:  # pyarrow cannot write Parquet's INTERVAL type
                raise ConfigurationError(
                    f"{target.storage.what}: column(s) {', '.join(map(repr, intervals))}: "
                    "interval values cannot be stored in Parquet; leave the column out, "
                    "cast it to text in a source query, or write csv"
                )
        self.schema = pa.schema(fields)
        partition = target.partition_by
        if partition and partition != RUN_DATE and partition not in self.schema.names:
            raise ConfigurationError(
                f"{self.storage.what}: partition_by column {partition!r} is not in the table"
            )
        self.parts: dict[str, tuple[Any, Any, str]] = {}
        self.written: list[str] = []
        self.rows = 0
        self.active = True
        self.sequence = 0

    # -- writing ------------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        arrays = list(batch.columns)
        if self.target.file_format == "csv":
            arrays = [
                pa.array([to_json_text(v) for v in a.to_pylist()], pa.string())
                if is_nested(a.type)
                else _iso_intervals(a)
                if pa.types.is_interval(a.type)
                else a
                for a in arrays
            ]
        meta = self.plan.metadata
        if meta is not None:
            arrays.append(
                pa.array(
                    [meta.loaded_at] * batch.num_rows, _METADATA_TYPES[MetadataColumns.LOADED_AT]
                )
            )
            arrays.append(pa.array([meta.load_id] * batch.num_rows, pa.string()))
        full = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        partition = self.target.partition_by
        with self.storage.errors(self.plan.target.display()):
            if not partition:
                self._part("").write(full)
            elif partition == RUN_DATE:
                self._part(f"{RUN_DATE}={self.started.date().isoformat()}").write(full)
            else:
                column = full.column(self.schema.get_field_index(partition))
                for value in pc.unique(column).to_pylist():
                    mask = pc.is_null(column) if value is None else pc.equal(column, value)
                    self._part(f"{partition}={_partition_value(value)}").write(
                        full.filter(pc.fill_null(mask, False))
                    )
        self.rows += batch.num_rows

    def _part(self, folder: str) -> Any:
        if folder in self.parts:
            part = self.parts.pop(folder)
            self.parts[folder] = part  # most recently used last
            return part[0]
        if len(self.parts) >= _MAX_OPEN_PARTS:
            oldest = next(iter(self.parts))
            self._close_part(oldest)
        self.sequence += 1
        name = f"part-{self.tag}-{self.sequence:05d}.{self.ext}"
        relative = posixpath.join(folder, name) if folder else name
        handle = self.storage.open(posixpath.join(self.stage, relative), "wb")
        if self.ext == "parquet":
            writer: Any = pq.ParquetWriter(
                handle, self.schema, compression=self.target.compression or "zstd"
            )
        else:
            writer = pacsv.CSVWriter(handle, self.schema)
        self.parts[folder] = (writer, handle, relative)
        return writer

    def _close_part(self, folder: str) -> None:
        writer, handle, relative = self.parts.pop(folder)
        try:
            writer.close()
        finally:
            handle.close()
        self.written.append(relative)

    def staged_max(self, column: str) -> Any:
        """Not used: file targets take Arrow batches, whose maxima the engine tracks itself."""
        return None

    # -- committing ---------------------------------------------------------------------------

    def commit(self, state: CursorState | None) -> int:
        fs = self.storage.fs
        with self.storage.errors(self.plan.target.display()):
            for folder in list(self.parts):
                self._close_part(folder)
            previous = self.target.manifest(self.plan.target) or {}
            moved = []
            for relative in self.written:
                final = self.storage.inside(posixpath.join(self.table_dir, relative))
                if self.storage.is_local:
                    fs.makedirs(posixpath.dirname(final), exist_ok=True)
                fs.mv(posixpath.join(self.stage, relative), final)
                moved.append({"name": relative, "load_id": self.load_id})
            old_files = list(previous.get("files", []))
            files = moved if self.plan.method == "overwrite" else old_files + moved
            states = dict(previous.get("states", {}))
            if state is not None:
                text, kind = encode_cursor(state.value)
                states[state.state_key] = {
                    "value": text,
                    "kind": kind,
                    "load_id": state.load_id,
                    "updated_at": datetime.now(UTC).isoformat(),
                    "boundary": None if state.boundary is None else list(state.boundary),
                }
                self.storage.write_json(
                    self.target._pointer(state.state_key),
                    {"state_key": state.state_key, "table": self.table_dir},
                )
            self.storage.write_json(
                posixpath.join(self.table_dir, MANIFEST),
                {
                    "format": self.target.file_format,
                    "load_id": self.load_id,
                    "committed_at": datetime.now(UTC).isoformat(),
                    "rows": self.rows,
                    "columns": [
                        {"name": c.name, "type": type_text(c), "semantic": c.semantic}
                        for c in self.plan.columns
                    ]
                    + [
                        {"name": n, "type": str(t), "semantic": None}
                        for n, t in _METADATA_TYPES.items()
                        if self.plan.metadata is not None
                    ],
                    "schema": encode_schema(self.schema),
                    "partition_by": self.target.partition_by,
                    "files": files,
                    "states": states,
                },
            )
            self.active = False
            success = self.storage.inside(posixpath.join(self.table_dir, SUCCESS))
            fs.pipe_file(success, self.load_id.encode())
            if self.plan.method == "overwrite":
                keep = {f["name"] for f in files}
                for old in old_files:
                    if old["name"] not in keep:
                        with contextlib.suppress(FileNotFoundError):
                            fs.rm(self.storage.inside(posixpath.join(self.table_dir, old["name"])))
            self._remove_stage()
        return self.rows

    def _remove_stage(self) -> None:
        fs = self.storage.fs
        with contextlib.suppress(FileNotFoundError, OSError):
            if fs.exists(self.stage):
                fs.rm(self.stage, recursive=True)
        if self.storage.is_local:  # an empty staging folder would linger; objects do not
            with contextlib.suppress(OSError):
                os.rmdir(posixpath.dirname(self.stage))

    def abort(self) -> None:
        if not self.active:
            return
        self.active = False
        for folder in list(self.parts):
            with contextlib.suppress(Exception):
                self._close_part(folder)
        self._remove_stage()


class S3Target(FilesTarget):
    kind = "s3"
