"""The plain-data description of one table copy and of its outcome.

A :class:`TableJob` is everything the engine needs; it does not know about the metadata store,
the API or the CLI, which build jobs from their own records and turn a :class:`TableResult`
(or the exception) back into a run record.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from headwater.connectors.base import DEFAULT_BATCH_BYTES, KeyRange, LoadMethod, TableRef
from headwater.connectors.errors import ConfigurationError
from headwater.connectors.partitioning import partition_columns

ExtractMethod = Literal["all", "incremental", "cdc"]
CursorType = Literal["timestamp", "date", "number", "epoch", "string"]
SchemaDrift = Literal["evolve", "freeze", "fail"]

EXTRACT_METHODS = ("all", "incremental", "cdc")
DeleteMode = Literal["delete", "soft"]
CURSOR_TYPES = ("timestamp", "date", "number", "epoch", "string")
LOAD_METHODS = ("overwrite", "append", "merge")
SCHEMA_DRIFT_POLICIES = ("evolve", "freeze", "fail")


def new_load_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class CdcOptions:
    """How a ``cdc`` table job reads the change log and applies it (see ``engine.cdc``).

    ``name`` names the river's objects at the source (slot and publication);
    ``sibling_state_keys`` are the state keys of the river's other CDC tables: the source
    log is released only up to the position every one of them committed.
    """

    name: str
    deletes: DeleteMode = "delete"
    change_columns: bool = False
    history: bool = False
    continuous: bool = False
    commit_seconds: float = 5.0
    commit_changes: int = 10_000
    snapshot_chunk_rows: int = 1_000_000
    retained_warning_bytes: int = 1024**3
    sibling_state_keys: tuple[str, ...] = ()
    #: Continuous mode stops when this says so (the river was disabled), checked per poll.
    should_stop: Callable[[], bool] | None = field(default=None, compare=False, repr=False)
    #: Receives the lag figures after each poll (the run record's live details).
    report: Callable[[dict[str, Any]], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PartSlice:
    """One range of a table whose run is split across workers (``runner/parts.py``).

    A part job reads only ``key_range`` (inside the coordinator's exported ``snapshot`` when
    the source has one) and overwrites its own ``staging_table`` in the target; it commits no
    cursor state: the publish does, from the parts' cursors.
    """

    key_range: KeyRange
    staging_table: str
    #: The real target table: its state row is where the part's cursor filter starts.
    table: str
    snapshot: str | None = None


@dataclass(frozen=True)
class TableJob:
    """One table (or custom query) copied from a source connection into a target connection.

    Connection properties are excluded from ``repr`` because they carry passwords.
    ``state_key`` identifies the incremental cursor in the target's ``_headwater_state`` table
    (default: derived from the target table name); ``load_id`` tags the rows of this load in the
    ``_hw_load_id`` metadata column.
    """

    source_connector: str
    source_props: Mapping[str, Any] = field(repr=False)
    target_connector: str
    target_props: Mapping[str, Any] = field(repr=False)
    source_table: str | None = None
    source_schema: str | None = None
    source_query: str | None = None
    columns: tuple[str, ...] = ()
    #: Source columns left out (``modified_columns`` entries with ``is_selected: false``): not
    #: read where the source can select, dropped from the batches otherwise, never created in
    #: the target. Names unknown to the source are ignored (a column dropped at the source).
    excluded_columns: tuple[str, ...] = ()
    target_table: str | None = None
    target_schema: str | None = None
    target_prefix: str = ""
    extract_method: ExtractMethod = "all"
    cursor_column: str | None = None
    cursor_type: CursorType | None = None
    start_value: str | None = None
    load_method: LoadMethod = "overwrite"
    merge_keys: tuple[str, ...] = ()
    schema_drift: SchemaDrift = "evolve"
    add_metadata_columns: bool = False
    parallel_partitions: int = 1
    partition_column: str | None = None
    #: The target table's partition fields (``day(created_at)``, ``bucket(16, id)``, a column;
    #: see ``connectors.partitioning``), applied by targets that can partition when they
    #: create the table. Not related to ``partition_column`` (parallel reading).
    partition_by: tuple[str, ...] = ()
    state_key: str | None = None
    load_id: str = field(default_factory=new_load_id)
    batch_bytes: int = DEFAULT_BATCH_BYTES
    max_batches_in_flight: int = 4
    #: Per-table options for sources that need them (file format, CSV dialect, API paging);
    #: passed to ``Source.configure``. Empty for database sources.
    source_options: Mapping[str, Any] = field(default_factory=dict)
    #: Set for the ``cdc`` extract method.
    cdc: CdcOptions | None = None
    #: Set for one part of a distributed table (see :class:`PartSlice`).
    part: PartSlice | None = None

    def validate(self) -> None:
        """Raise ConfigurationError with a human message for an impossible combination."""
        if bool(self.source_table) == bool(self.source_query):
            raise ConfigurationError("a job needs exactly one of source_table or source_query")
        if self.source_query and not self.target_table:
            raise ConfigurationError("a custom SQL source needs a target_table name")
        if self.extract_method not in EXTRACT_METHODS:
            raise ConfigurationError(f"unknown extract method {self.extract_method!r}")
        if self.load_method not in LOAD_METHODS:
            raise ConfigurationError(f"unknown load method {self.load_method!r}")
        if self.schema_drift not in SCHEMA_DRIFT_POLICIES:
            raise ConfigurationError(f"unknown schema drift policy {self.schema_drift!r}")
        if self.extract_method == "incremental":
            if not self.cursor_column:
                raise ConfigurationError("incremental extraction needs a cursor_column")
            if self.cursor_type not in CURSOR_TYPES:
                raise ConfigurationError(
                    f"incremental extraction needs a cursor_type, one of {', '.join(CURSOR_TYPES)}"
                )
        for name, role in (
            *((k, "merge key") for k in self.merge_keys),
            (self.cursor_column, "cursor"),
            (self.partition_column, "partition"),
            *((c, "partition_by") for c in partition_columns(self.partition_by)),
        ):
            if name and name in self.excluded_columns:
                raise ConfigurationError(
                    f"the {role} column {name!r} is not selected (is_selected: false); "
                    "select it or choose another"
                )
        if self.extract_method == "cdc":
            if self.cdc is None or not self.source_table:
                raise ConfigurationError("change capture (cdc) reads a table, not a custom query")
        elif self.load_method == "merge" and not self.merge_keys:
            raise ConfigurationError(
                "the merge load method needs merge key columns (merge_keys) to match rows on"
            )
        if self.parallel_partitions < 1:
            raise ConfigurationError("parallel_partitions must be at least 1")
        if self.max_batches_in_flight < 1 or self.batch_bytes < 1024:
            raise ConfigurationError("max_batches_in_flight must be >= 1, batch_bytes >= 1024")

    @property
    def source_ref(self) -> TableRef | None:
        return TableRef(self.source_table, self.source_schema) if self.source_table else None

    def source_display(self) -> str:
        ref = self.source_ref
        return ref.display() if ref else "custom query"

    def target_name(self) -> str:
        base = self.target_table or self.source_table
        if not base:
            raise ConfigurationError("cannot name the target table: set target_table")
        return f"{self.target_prefix}{base}"

    def resolved_state_key(self, target_schema: str | None) -> str:
        if self.state_key:
            return self.state_key
        name = self.part.table if self.part is not None else self.target_name()
        return f"{target_schema}.{name}" if target_schema else name


@dataclass(frozen=True)
class TableResult:
    """What a successful job did; ``cursor_value``/``cursor_type`` are the committed state."""

    source: str
    target: str
    rows: int
    bytes: int
    load_id: str
    started_at: datetime
    finished_at: datetime
    cursor_value: str | None = None
    cursor_type: str | None = None
    native: bool = False
    partitions: int = 1
    units: float = 0.0
    columns_added: tuple[str, ...] = ()
    columns_widened: tuple[str, ...] = ()
    #: Change capture figures (``cdc_lag_seconds``, ``cdc_lag_bytes``, changes applied...).
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()
