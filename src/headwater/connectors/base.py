"""The connector interface: specs, capabilities, catalogue objects, sources and targets.

A connector is data (a :class:`ConnectorSpec` with typed properties and :class:`Capabilities`)
plus an implementation that is imported only when a connection is opened, so listing the
catalogue never imports a database driver. The engine reads capabilities to decide how to copy
(native stream or Arrow, parallel key ranges, merge strategy); it never checks which connector
it is talking to.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa

from headwater.connectors.errors import ConfigurationError, ObjectNotFound

PropertyType = Literal["string", "integer", "boolean", "password", "path"]
Role = Literal["source", "target"]
MergeStrategy = Literal["on_conflict", "merge", "delete_insert", "none"]
LoadMethod = Literal["overwrite", "append", "merge"]

DEFAULT_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class PropertySpec:
    """One connection property as shown in a form and validated before connecting."""

    name: str
    type: PropertyType
    required: bool = False
    default: Any = None
    secret: bool = False
    description: str = ""
    #: The accepted values (compared case-insensitively, stored lower-case); empty: any.
    choices: tuple[str, ...] = ()
    #: The value is a JSON object of names to text (extra HTTP headers), checked at save.
    json_object: bool = False
    #: For a ``path`` property that may also hold a URL (``s3://...``, ``postgresql://...``):
    #: the schemes the connector accepts. A value written as a URL is then not a local path:
    #: the connector takes the accepted schemes (the outbound policy checks their hosts) and
    #: refuses any other with a message.
    remote_schemes: tuple[str, ...] = ()

    def names_local_path(self, value: Any) -> bool:
        """Whether ``value`` of this property is a path on this server (the local-path rule
        applies to it): every value of a ``path`` property, except URLs where the property
        accepts remote URLs."""
        if self.type != "path":
            return False
        scheme, sep, _ = str(value).partition("://")
        return not (sep and self.remote_schemes and scheme.replace("+", "").isalnum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "secret": self.secret or self.type == "password",
            "description": self.description,
            "choices": list(self.choices),
        }


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do, as data the engine branches on.

    ``native_stream_format`` names a byte format a source can emit and a target can ingest
    without going through Arrow (for PostgreSQL: binary COPY rows). When source and target share
    it and the column types are identical, the engine pipes bytes straight through.
    """

    transactional: bool = True
    merge_strategy: MergeStrategy = "none"
    max_identifier_length: int = 0
    #: What ``max_identifier_length`` counts: PostgreSQL's NAMEDATALEN is in bytes, MySQL's
    #: 64 is in characters.
    identifier_length_unit: Literal["bytes", "characters"] = "bytes"
    key_ranges: bool = False
    snapshot: bool = False
    server_side_cancel: bool = False
    schemas: bool = True
    native_stream_format: str | None = None
    type_dialect: str = ""
    #: ``bytes``: units from bytes moved; ``per_execution``: a flat charge per table run (API
    #: sources, whose cost is requests rather than volume).
    metering: Literal["bytes", "per_execution"] = "bytes"
    #: Source "tables" are file paths or globs: a river must give ``details.file_format``, has
    #: no custom SQL, and a table's default target name is the file name without suffixes.
    file_tables: bool = False
    #: The SQL dialect statements run in (``spec.statements_class``): how a logic SQL step
    #: quotes a variable's value (``runner.sql_render``). Empty: no SQL statements.
    sql_dialect: str = ""
    #: The source reads its database's change log (``Source.change_reader``): the ``cdc``
    #: extract method.
    change_capture: bool = False
    #: The target's loaders apply ``Loader.stage_keyed`` (deletes and updates by key), which
    #: change capture needs besides ``merge``.
    keyed_writes: bool = False
    #: The source keeps its own incremental state (Airbyte and Singer ``STATE`` messages):
    #: the engine passes the committed state to ``Source.resume`` and commits
    #: ``Source.checkpoint`` with the rows instead of a cursor column's maximum.
    connector_state: bool = False
    #: What a target makes of a river table's ``partition_by`` (``LoadPlan.partition_by``) when
    #: it creates a table: ``transforms`` (Iceberg: day(col), bucket(N, col)...), ``identity``
    #: (Delta: plain columns only) or ``none`` (rivers giving one are refused at save).
    partitioning: Literal["none", "identity", "transforms"] = "none"
    #: Loads into several tables of the target may run at once (``HEADWATER_TABLE_CONCURRENCY``).
    #: Off for embedded single-file engines and catalogs (DuckDB, SQLite, the Iceberg SQL
    #: catalog), whose concurrent catalog writes conflict.
    concurrent_loads: bool = True
    #: The target publishes one load from several staging tables written by separate
    #: processes (``LoadPlan.from_tables``): a table's run split across Celery workers.
    publishes_parts: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "transactional": self.transactional,
            "merge_strategy": self.merge_strategy,
            "max_identifier_length": self.max_identifier_length,
            "identifier_length_unit": self.identifier_length_unit,
            "key_ranges": self.key_ranges,
            "snapshot": self.snapshot,
            "server_side_cancel": self.server_side_cancel,
            "schemas": self.schemas,
            "native_stream_format": self.native_stream_format,
            "type_dialect": self.type_dialect,
            "metering": self.metering,
            "file_tables": self.file_tables,
            "sql_dialect": self.sql_dialect,
            "change_capture": self.change_capture,
            "keyed_writes": self.keyed_writes,
            "connector_state": self.connector_state,
            "partitioning": self.partitioning,
            "concurrent_loads": self.concurrent_loads,
            "publishes_parts": self.publishes_parts,
        }


@dataclass(frozen=True)
class ConnectorSpec:
    """Everything known about a connector without importing its driver."""

    name: str
    title: str
    properties: tuple[PropertySpec, ...]
    capabilities: Capabilities
    source_class: str | None = None
    target_class: str | None = None
    description: str = ""
    #: ``module:Class`` of a ``connectors.statements.StatementRunner``: the connector can run
    #: SQL text (logic SQL steps). None: it cannot.
    statements_class: str | None = None

    @property
    def roles(self) -> tuple[Role, ...]:
        roles: list[Role] = []
        if self.source_class:
            roles.append("source")
        if self.target_class:
            roles.append("target")
        return tuple(roles)

    def property(self, name: str) -> PropertySpec | None:
        return next((p for p in self.properties if p.name == name), None)

    def resolve_props(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``props`` against the spec, apply defaults and coerce simple types."""
        unknown = sorted(set(props) - {p.name for p in self.properties})
        if unknown:
            raise ConfigurationError(
                f"Unknown {self.name} connection propert{'y' if len(unknown) == 1 else 'ies'}: "
                + ", ".join(unknown)
            )
        resolved: dict[str, Any] = {}
        for prop in self.properties:
            value = props.get(prop.name)
            if value is None or value == "":
                if prop.required and prop.default is None:
                    raise ConfigurationError(
                        f"The {self.name} connection property {prop.name!r} is required"
                    )
                value = prop.default
            elif prop.type == "integer":
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise ConfigurationError(
                        f"The {self.name} connection property {prop.name!r} must be an integer"
                    ) from None
            elif prop.type == "boolean" and isinstance(value, str):
                value = value.strip().lower() in {"1", "true", "yes", "on"}
            resolved[prop.name] = value
        return resolved

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "roles": list(self.roles),
            "properties": [p.to_dict() for p in self.properties],
            "capabilities": self.capabilities.to_dict(),
        }


@dataclass(frozen=True)
class TableRef:
    """A table name, optionally qualified by a schema (or MySQL database)."""

    name: str
    schema: str | None = None

    def display(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class Column:
    """A column as found in a catalogue, with its exact native type and its Arrow carrier.

    ``source_type`` is the type text in ``dialect`` (``numeric(12,2)``); targets of the same
    dialect reuse it verbatim. ``semantic`` marks meanings Arrow has no type for (``json``,
    ``uuid``, ``enum``, ``decimal`` for numerics carried as exact text, ``xml``, ``text`` for a
    value carried as its text form).
    """

    name: str
    source_type: str
    arrow_type: pa.DataType
    nullable: bool = True
    primary_key: bool = False
    semantic: str | None = None
    precision: int | None = None
    scale: int | None = None
    max_length: int | None = None
    dialect: str = ""
    portable: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source_type": self.source_type,
            "arrow_type": str(self.arrow_type),
            "nullable": self.nullable,
            "primary_key": self.primary_key,
            "semantic": self.semantic,
        }


@dataclass(frozen=True)
class Table:
    ref: TableRef
    columns: tuple[Column, ...]

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.primary_key)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.ref.schema,
            "name": self.ref.name,
            "columns": [c.to_dict() for c in self.columns],
            "primary_key": list(self.primary_key),
        }


@dataclass(frozen=True)
class CursorFilter:
    """Read only rows whose cursor column is after ``value`` (``>=`` when ``inclusive``)."""

    column: str
    value: Any
    inclusive: bool = False


@dataclass(frozen=True)
class KeyRange:
    """A half-open range ``lower <= key < upper`` of a key column; ``None`` means unbounded."""

    column: str
    lower: Any = None
    upper: Any = None


def even_key_ranges(column: str, bounds: Sequence[Any] | None, parts: int) -> list[KeyRange]:
    """``parts`` ranges of about equal width between an integer key's ``(min, max)``; one
    unbounded range when the key is not an integer, the table is empty or one part is asked."""
    if bounds is None or not isinstance(bounds[0], int) or parts < 2:
        return [KeyRange(column)]
    low, high = int(bounds[0]), int(bounds[1])
    step = max((high - low + 1) // parts, 1)
    cuts = [low + step * i for i in range(1, parts) if low + step * i <= high]
    edges: list[int | None] = [None, *cuts, None]
    return [KeyRange(column, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


@dataclass(frozen=True)
class ReadRequest:
    """What to read: a table or a query, which columns, and optional filters."""

    columns: tuple[Column, ...]
    table: TableRef | None = None
    query: str | None = None
    cursor: CursorFilter | None = None
    key_range: KeyRange | None = None
    batch_bytes: int = DEFAULT_BATCH_BYTES
    snapshot: str | None = None
    #: The engine commits at :class:`StatePoint` items (an append or merge load of a
    #: ``connector_state`` source); when False the source yields none.
    state_points: bool = False

    def describe(self) -> str:
        return self.table.display() if self.table else "custom query"


@dataclass(frozen=True)
class StatePoint:
    """An item a ``connector_state`` source yields between its batches (only when
    :attr:`ReadRequest.state_points`): ``state`` covers every row yielded before it, so the
    engine may commit those rows and this state in one target transaction and go on in a
    new one. A run killed later resumes from here instead of from the previous run's state."""

    state: str


@dataclass(frozen=True)
class CursorState:
    """The incremental position stored in the target, next to the data it describes.

    ``boundary`` holds fingerprints of the rows loaded at exactly ``value`` (see
    :mod:`headwater.engine.boundary`); ``None`` means the next read uses ``>``.
    """

    state_key: str
    value: Any
    kind: str
    load_id: str
    updated_at: datetime | None = None
    boundary: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MetadataColumns:
    """Values for ``_hw_loaded_at`` and ``_hw_load_id``, identical for every row of a load."""

    load_id: str
    loaded_at: datetime

    LOADED_AT = "_hw_loaded_at"
    LOAD_ID = "_hw_load_id"


def metadata_column_types(
    metadata: MetadataColumns | None, loaded_at: str, load_id: str
) -> list[tuple[str, str]]:
    """The metadata columns with a target's types for them; none when the load adds none."""
    if metadata is None:
        return []
    return [(MetadataColumns.LOADED_AT, loaded_at), (MetadataColumns.LOAD_ID, load_id)]


@dataclass(frozen=True)
class LoadPlan:
    """Everything a target needs to load one table atomically.

    ``columns`` are the columns of the batches in order, typed as the source declares them;
    ``existing`` is the target table as found before the load (``None`` if it does not exist);
    ``add_columns`` and ``widen_columns`` are drift changes to apply inside the load's
    transaction; ``native`` says the batches come as the connector's native byte stream.
    """

    target: TableRef
    columns: tuple[Column, ...]
    method: LoadMethod
    existing: Table | None = None
    merge_keys: tuple[str, ...] = ()
    metadata: MetadataColumns | None = None
    add_columns: tuple[Column, ...] = ()
    widen_columns: tuple[Column, ...] = ()
    native: bool = False
    state_schema: str | None = None
    load_id: str = ""
    #: A river table's partition fields (``connectors.partitioning``), for a target with
    #: ``Capabilities.partitioning`` to apply when it creates the table.
    partition_by: tuple[str, ...] = ()
    #: Tables of the target (in the target's schema) whose rows are the load: the committed
    #: parts of a distributed run. The loader stages them instead of a stream and drops them
    #: in the publishing transaction; only for targets with ``publishes_parts``.
    from_tables: tuple[TableRef, ...] = ()
    #: The rows each of ``from_tables`` committed: a table holding other than that (lost,
    #: truncated, written twice) fails the publish instead of publishing it.
    from_rows: tuple[int, ...] = ()

    def column_types(
        self, type_for: Callable[[Column], str], *, replacing: bool = False
    ) -> list[tuple[str, str]]:
        """``(name, type)`` per column: the existing table's type, except for new and widened
        columns, and for every column when ``replacing`` (an overwrite that builds a new
        table), which get ``type_for(column)``."""
        widened = {c.name for c in self.widen_columns}
        types = []
        for column in self.columns:
            current = None if replacing or not self.existing else self.existing.column(column.name)
            if current is not None and column.name not in widened:
                types.append((column.name, current.source_type))
            else:
                types.append((column.name, type_for(column)))
        return types


class Connection(ABC):
    """Shared lifecycle of sources and targets: open lazily, close once, usable as a context."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        self.props = dict(props)

    @abstractmethod
    def test(self) -> None:
        """Really connect and run a trivial statement; raise a ConnectorError on failure."""

    def cancel(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Cancel running statements server-side; safe to call from another thread."""

    def close(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release connections. Idempotent."""

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Source(Connection):
    """Reads tables or queries as Arrow record batches."""

    def configure(
        self, options: Mapping[str, Any], log: Callable[[str, str], None] | None = None
    ) -> None:
        """Take per-table options (file format, API paging, ...) and the run-log callback.

        The engine calls this once per job, before ``describe``. Database sources have no
        per-table options, so the default refuses any instead of silently ignoring a typo.
        """
        if options:
            raise ConfigurationError(
                "this connector takes no per-table source options (got "
                + ", ".join(sorted(options))
                + ")"
            )

    @abstractmethod
    def discover(self, schema: str | None = None) -> list[Table]:
        """List the tables (with columns) of ``schema``, or of the default schema."""

    def estimate_rows(self, schema: str | None = None) -> dict[str, int]:
        """Approximate row counts by table name of ``schema`` from the catalogue's statistics
        (never a scan), for the console's schema browser. Default: none known."""
        return {}

    @abstractmethod
    def describe(self, ref: TableRef) -> Table:
        """Columns of one table; raise ObjectNotFound when it does not exist."""

    @abstractmethod
    def describe_query(self, query: str) -> tuple[Column, ...]:
        """Columns a custom query returns, without running it to completion."""

    @abstractmethod
    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        """Yield batches of roughly ``request.batch_bytes`` each, in bounded memory."""

    def same_dialect_columns(self, columns: tuple[Column, ...]) -> tuple[Column, ...]:
        """``columns`` as carried to a target of this source's own type dialect, which
        recreates the source types: a source may carry there, as exact text, values its
        Arrow carriers would refuse (PostgreSQL arrays of any shape). Default: unchanged."""
        return columns

    def read_native(self, request: ReadRequest) -> Iterator[bytes]:
        """Yield chunks of the connector's native stream format (see Capabilities)."""
        raise NotImplementedError("this source has no native stream format")

    def resume(self, state: str | None) -> None:
        """Incremental read from the committed connector state (``None``: from the start);
        only for sources with the ``connector_state`` capability."""

    def checkpoint(self) -> str | None:
        """The connector state covering every row read so far (``connector_state``)."""
        return None

    def plan_key_ranges(self, ref: TableRef, column: str, parts: int) -> list[KeyRange]:
        """Split a table into ``parts`` ranges of ``column`` for parallel reading."""
        return [KeyRange(column)]

    def plan_page_ranges(self, ref: TableRef, parts: int) -> list[KeyRange]:
        """Ranges of the table's physical storage (PostgreSQL: ``ctid`` pages) for a table
        without a single-column key; empty when the source cannot split that way."""
        return []

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[str | None]:
        """Hold a snapshot that parallel readers can share; yields its id (or ``None``)."""
        yield None


@dataclass(frozen=True)
class KeyedWrite:
    """Target rows deleted, or updated, by key inside a load's transaction, before the staged
    rows are published: change capture's deletes, soft deletes and closed history versions.

    ``rows`` hold the key values, then the values of ``assign``; no ``assign``: the rows are
    deleted. ``only_true`` adds ``AND column`` (SCD2's ``_hw_is_current``). ``everything``:
    the write is not by key (a source ``TRUNCATE``); ``rows`` then holds one row of values.
    """

    key: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    assign: tuple[str, ...] = ()
    only_true: str | None = None
    everything: bool = False


class Loader(ABC):
    """One atomic load into one table, opened by :meth:`Target.begin`."""

    @abstractmethod
    def write(self, batch: pa.RecordBatch) -> None:
        """Stage one batch."""

    def write_native(self, chunk: bytes) -> None:
        """Stage a chunk of the native stream format."""
        raise NotImplementedError("this target has no native stream format")

    @abstractmethod
    def staged_max(self, column: str) -> Any:
        """Largest value of ``column`` among the staged rows (``None`` if none)."""

    def stage_keyed(self, write: KeyedWrite) -> None:
        """Delete or update target rows by key in the load's transaction, before the staged
        rows are published (``Capabilities.keyed_writes``)."""
        raise NotImplementedError("this target cannot delete or update rows by key")

    @abstractmethod
    def commit(self, state: CursorState | None) -> int:
        """Publish the staged rows and the cursor state in one transaction; return row count."""

    @abstractmethod
    def abort(self) -> None:
        """Roll back: the target table and state stay exactly as they were."""


class Target(Connection):
    """Writes Arrow batches (or native chunks) into tables, atomically per load."""

    @abstractmethod
    def describe(self, ref: TableRef) -> Table | None:
        """The existing target table, or ``None`` when it does not exist."""

    @abstractmethod
    def type_for(self, column: Column) -> str:
        """The column type this target creates for a source column."""

    @abstractmethod
    def read_state(self, state_schema: str | None, state_key: str) -> CursorState | None:
        """The committed cursor state for ``state_key``, if any."""

    @abstractmethod
    def begin(self, plan: LoadPlan) -> Loader:
        """Start an atomic load."""

    def drop_tables(self, refs: Sequence[TableRef]) -> None:
        """Drop these tables if they exist (the staging tables of parts that will not be
        published); only for targets with ``publishes_parts``."""
        raise NotImplementedError("this target does not publish parts")

    def default_schema(self) -> str | None:
        """The schema tables land in when the job names none."""
        return None


def require_columns(table: Table, names: Sequence[str], role: str) -> None:
    """Raise a clear error when a column named in a job is not in ``table``."""
    have = {c.name for c in table.columns}
    missing = [n for n in names if n not in have]
    if missing:
        raise ObjectNotFound(
            f"{role} column(s) {', '.join(repr(m) for m in missing)} not found in "
            f"{table.ref.display()}"
        )
