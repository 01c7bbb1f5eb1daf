"""The connector interface: sources, targets and their loaders (specs and catalogue objects,
defined in :mod:`headwater.connectors.spec` and :mod:`headwater.connectors.tables`, are
re-exported here).

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
from typing import Any

import pyarrow as pa

from headwater.connectors.errors import ConfigurationError, ObjectNotFound
from headwater.connectors.spec import (
    DEFAULT_BATCH_BYTES,
    Capabilities,
    ConnectorSpec,
    LoadMethod,
    MergeStrategy,
    PropertySpec,
    PropertyType,
    Role,
)
from headwater.connectors.tables import (
    Column,
    CursorFilter,
    CursorState,
    KeyRange,
    LoadPlan,
    MetadataColumns,
    ReadRequest,
    StatePoint,
    Table,
    TableRef,
    even_key_ranges,
    metadata_column_types,
)

#: The interface is imported from this one module; specs and catalogue objects live in
#: ``spec`` and ``tables``.
__all__ = [
    "DEFAULT_BATCH_BYTES",
    "Capabilities",
    "Column",
    "Connection",
    "ConnectorSpec",
    "CursorFilter",
    "CursorState",
    "KeyRange",
    "KeyedWrite",
    "LoadMethod",
    "LoadPlan",
    "Loader",
    "MergeStrategy",
    "MetadataColumns",
    "PropertySpec",
    "PropertyType",
    "ReadRequest",
    "Role",
    "Source",
    "StatePoint",
    "Table",
    "TableRef",
    "Target",
    "even_key_ranges",
    "metadata_column_types",
    "require_columns",
]


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
