"""File sources: a path, folder or glob of CSV, JSON or Parquet files read as one table.

The schema is inferred from the first file (sorted by name) and can be overridden per column;
later files are cast to it (missing columns become nulls, extra columns are logged and
ignored). With ``file_columns: true`` every row also carries ``_hw_file`` (its file's name
under the root) and ``_hw_file_modified``; used as the incremental cursor, they make the
engine's cursor state skip whole files that were already loaded: only files modified after
(or named after) the committed cursor are opened at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.base import Column, CursorFilter, ReadRequest, Source, Table, TableRef
from headwater.connectors.errors import ConfigurationError, ConnectorError
from headwater.connectors.files.fs import FileInfo, Storage, open_storage
from headwater.connectors.files.options import (
    FILE_MODIFIED_COLUMN,
    FILE_NAME_COLUMN,
    FileOptions,
    parse_file_options,
)
from headwater.connectors.files.readers import raw_batches, raw_schema
from headwater.connectors.files.shape import (
    assemble,
    columns_for,
    decode_schema,
    make_column,
    reshape,
    shaped_fields,
)

LogFn = Callable[[str, str], None]
_MAX_DISCOVERED = 200
_FILE_TYPES = {
    FILE_NAME_COLUMN: pa.string(),
    FILE_MODIFIED_COLUMN: pa.timestamp("us", tz="UTC"),
}


def _no_log(level: str, message: str) -> None:
    return None


def block_size_for(batch_bytes: int) -> int:
    """Bytes of input per read block.

    pyarrow's streaming CSV reader holds about 35 blocks' worth of Arrow memory while it
    parses (measured with pyarrow 26), so a block of an eighth of the batch budget keeps a
    read's footprint near four batches.
    """
    return max(256 * 1024, min(batch_bytes // 8, 16 * 1024 * 1024))


def cursor_mask(array: pa.Array, cursor: CursorFilter) -> pa.Array:
    """Rows whose cursor value is after the committed one (``>=`` when inclusive)."""
    value = cursor.value
    try:
        scalar = pa.scalar(value)
        if not scalar.type.equals(array.type):
            if pa.types.is_string(array.type) and not isinstance(value, str):
                scalar = pa.scalar(value.isoformat() if hasattr(value, "isoformat") else str(value))
            else:
                scalar = scalar.cast(array.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ConfigurationError(
            f"the cursor value {value!r} cannot be compared with column {cursor.column!r} "
            f"({array.type}): {exc}"
        ) from None
    compare = pc.greater_equal if cursor.inclusive else pc.greater
    return pc.fill_null(compare(array, scalar), False)


class FilesSource(Source):
    kind = "local_files"

    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(props)
        self.storage: Storage = open_storage(self.kind, self.props)
        self.options = FileOptions()
        self.log: LogFn = _no_log
        self._schemas: dict[str, pa.Schema] = {}

    def configure(self, options: Mapping[str, Any], log: LogFn | None = None) -> None:
        self.options = parse_file_options(options, self.storage.what)
        self.log = log or _no_log

    def test(self) -> None:
        with self.storage.errors(""):
            if not self.storage.fs.exists(self.storage.root):
                raise ConfigurationError(f"{self.storage.what} does not exist")
            self.storage.fs.ls(self.storage.root, detail=False)

    def close(self) -> None:
        self.storage.close()

    # -- catalogue ----------------------------------------------------------------------------

    def discover(self, schema: str | None = None) -> list[Table]:
        """Each data file or folder directly under the root (or ``schema``) as a table."""
        tables: list[Table] = []
        for name in self.storage.top_level()[:_MAX_DISCOVERED]:
            full = f"{schema.strip('/')}/{name}" if schema else name
            try:
                tables.append(self.describe(TableRef(full)))
            except ConnectorError as exc:
                self.log("info", f"{self.storage.what}: skipping {full!r}: {exc}")
        return tables

    def describe(self, ref: TableRef) -> Table:
        # A folder written by a file target is described by its manifest: it also holds the
        # semantics Parquet has no type for (json, uuid, exact decimal text) and the schema of
        # a load that wrote no rows (hence no file).
        manifest = self.storage.table_manifest(ref.name)
        semantics: dict[str, str] = {}
        if manifest is not None:
            schema = decode_schema(manifest["schema"])
            semantics = {
                c["name"]: c["semantic"] for c in manifest.get("columns", []) if c.get("semantic")
            }
        else:
            files = self.storage.list_files(ref.name)
            schema = self._raw_schema(ref.name, files[0])
        where = f"{self.storage.what} {ref.name}"
        options = self.options
        columns = [
            make_column(c.name, c.arrow_type, semantics[c.name], c.primary_key)
            if c.semantic is None and c.name in semantics and c.name not in options.overrides
            else c
            for c in columns_for(
                schema,
                nested=options.nested,
                overrides=options.overrides,
                primary_key=options.primary_key,
                where=where,
            )
        ]
        if options.file_columns:
            columns += [make_column(name, t) for name, t in _FILE_TYPES.items()]
        return Table(ref, tuple(columns))

    def _raw_schema(self, name: str, first: FileInfo) -> pa.Schema:
        if name not in self._schemas:
            where = f"{self.storage.what} {first.name}"
            self._schemas[name] = raw_schema(self.storage, first, self.options, where)
        return self._schemas[name]

    def describe_query(self, query: str) -> tuple[Column, ...]:
        raise ConfigurationError(
            f"{self.storage.what}: a file source has no SQL; give a path or glob as table name"
        )

    # -- reading ------------------------------------------------------------------------------

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        if request.table is None:
            raise ConfigurationError("a file source reads a path or glob, not a query")
        name = request.table.name
        manifest = self.storage.table_manifest(name)
        if manifest is not None and not manifest.get("files"):
            return  # a committed load of no rows
        files = self.storage.list_files(name)
        schema = self._raw_schema(name, files[0])
        cursor = request.cursor
        file_cursor = cursor is not None and cursor.column in _FILE_TYPES
        skipped = 0
        for info in files:
            if file_cursor and cursor is not None and not self._file_is_new(info, cursor):
                skipped += 1
                continue
            yield from self._read_file(info, schema, request, None if file_cursor else cursor)
        if skipped:
            self.log(
                "info",
                f"{self.storage.what} {name}: skipped {skipped} file(s) already loaded "
                f"({cursor.column if cursor else ''} not after the committed cursor)",
            )

    def _file_is_new(self, info: FileInfo, cursor: CursorFilter) -> bool:
        if cursor.column == FILE_NAME_COLUMN:
            array = pa.array([info.name], pa.string())
        else:
            array = pa.array([info.modified], _FILE_TYPES[FILE_MODIFIED_COLUMN])
        return bool(cursor_mask(array, cursor)[0].as_py())

    def _read_file(
        self,
        info: FileInfo,
        schema: pa.Schema,
        request: ReadRequest,
        cursor: CursorFilter | None,
    ) -> Iterator[pa.RecordBatch]:
        where = f"{self.storage.what} {info.name}"
        block = block_size_for(request.batch_bytes)
        warned = False
        for raw in raw_batches(self.storage, info, self.options, schema, block, where, self.log):
            arrays = reshape(raw, self.options.nested)
            if not warned:
                warned = True
                known = {n for n, _, _ in shaped_fields(schema, self.options.nested)}
                extra = sorted(set(arrays) - known)
                if extra:
                    self.log("warning", f"{where}: ignoring column(s) {', '.join(extra)}")
            if self.options.file_columns:
                arrays[FILE_NAME_COLUMN] = pa.array([info.name] * raw.num_rows, pa.string())
                arrays[FILE_MODIFIED_COLUMN] = pa.array(
                    [info.modified] * raw.num_rows, _FILE_TYPES[FILE_MODIFIED_COLUMN]
                )
            batch = assemble(arrays, request.columns, raw.num_rows, where)
            if cursor is not None:
                index = batch.schema.get_field_index(cursor.column)
                batch = batch.filter(cursor_mask(batch.column(index), cursor))
            if batch.num_rows:
                yield batch


class S3Source(FilesSource):
    kind = "s3"
