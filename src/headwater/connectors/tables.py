"""Catalogue objects and the plans passed between the engine and connectors.

Tables and columns as a source's catalogue finds them, what a read asks for (cursor filters,
key ranges, resumable state) and what a load needs (:class:`LoadPlan`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from headwater.connectors.spec import DEFAULT_BATCH_BYTES, LoadMethod


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
