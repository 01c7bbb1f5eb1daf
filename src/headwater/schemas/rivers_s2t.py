"""Source-to-target rivers: the hosted v1 body (``properties.source/target/schemas``).

Checks that need the database (connections exist and fit their role, file formats for file
sources, merge keys against the effective loading method) live in ``services.river_checks`` so
they can name the exact field in one 422.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from headwater.connectors.partitioning import (
    PARTITION_FIELD_PATTERN,
    check_partition_field,
    partition_columns,
)
from headwater.schemas.rivers_common import ObjectId, RiverBase, Strict

LoadingMethod = Literal["overwrite", "append", "merge"]

#: One ``partition_by`` field. The pattern is both checked (with a message naming the accepted
#: forms, rather than pydantic's "should match pattern") and published in the JSON Schema.
PartitionFieldText = Annotated[
    str,
    AfterValidator(check_partition_field),
    Field(json_schema_extra={"pattern": PARTITION_FIELD_PATTERN}),
]


class ModifiedColumn(Strict):
    """A column setting: merge key, rename in the target, or a target type override."""

    name: str = Field(min_length=1)
    is_key: bool = False
    target_name: str | None = None
    type: str | None = Field(default=None, description="Target column type override.")
    is_selected: bool = Field(
        default=True, description="False: the column is neither read nor created in the target."
    )


# The two rules below are written as ``anyOf`` of exclusive branches rather than ``if``/``then``
# and ``oneOf``: the same meaning, and a generator (schemathesis) needs less than half the time.

#: ``_incremental_needs_cursor`` in JSON Schema: an incremental table names its cursor.
INCREMENTAL_NEEDS_CURSOR: dict[str, Any] = {
    "anyOf": [
        {"properties": {"extract_method": {"enum": ["all", "cdc"]}}},
        {
            "required": ["extract_method", "incremental_field", "incremental_type"],
            "properties": {
                "extract_method": {"const": "incremental"},
                "incremental_field": {"type": "string"},
                "incremental_type": {"type": "string"},
            },
        },
    ]
}
#: ``_name_or_query`` in JSON Schema: a table name, or a query with its target table.
NAME_OR_QUERY: dict[str, Any] = {
    "anyOf": [
        {
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "query": {"type": "null"}},
        },
        {
            "required": ["query", "details"],
            "properties": {
                "name": {"type": "null"},
                "query": {"type": "string"},
                "details": {
                    "required": ["target_table"],
                    "properties": {"target_table": {"type": "string", "minLength": 1}},
                },
            },
        },
    ]
}


class TableDetails(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=INCREMENTAL_NEEDS_CURSOR)

    is_selected: bool = Field(default=True, description="False: stored but not run.")
    target_table: str | None = Field(
        default=None, description="Default: the source table name (required for a query)."
    )
    extract_method: Literal["all", "incremental", "cdc"] = Field(
        default="all",
        description="all: every row each run; incremental: rows after the cursor; cdc: an "
        "initial snapshot, then every insert, update and delete from the source's change log "
        "(PostgreSQL, MySQL/MariaDB; see docs/cdc.md).",
    )
    incremental_field: str | None = Field(default=None, description="The cursor column.")
    incremental_type: Literal["timestamp", "date", "number", "epoch", "string"] | None = None
    start_value: str | int | float | None = Field(
        default=None, description="First cursor value; default: read everything the first time."
    )
    loading_method: LoadingMethod | None = Field(
        default=None, description="Overrides the target's loading_method for this table."
    )
    modified_columns: list[ModifiedColumn] = Field(default_factory=list)
    cdc_deletes: Literal["delete", "soft"] = Field(
        default="delete",
        description="cdc: delete target rows, or keep them with _hw_deleted_at set.",
    )
    cdc_history: bool = Field(
        default=False,
        description="cdc: keep every version of a row (SCD type 2: _hw_valid_from, "
        "_hw_valid_to, _hw_is_current) instead of upserting.",
    )
    cdc_change_columns: bool = Field(
        default=False, description="cdc: add _hw_op, _hw_lsn and _hw_committed_at to each row."
    )
    partition_by: list[PartitionFieldText] = Field(
        default_factory=list,
        max_length=32,
        description="Partition spec of the target table when a run creates it: Iceberg takes "
        "column, year(col), month(col), day(col), hour(col), bucket(N, col), truncate(W, col); "
        "Delta column names only; other targets refuse it.",
    )
    file_format: Literal["csv", "jsonl", "parquet"] | None = Field(
        default=None, description="Required when the source is a file connection."
    )
    source_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Per-table options of file and API sources (CSV dialect, column types, "
        "API path, paging...); see the connector pages of the docs.",
    )

    @model_validator(mode="after")
    def _incremental_needs_cursor(self) -> TableDetails:
        if self.extract_method == "incremental":
            missing = [
                name
                for name in ("incremental_field", "incremental_type")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"extract_method 'incremental' needs {' and '.join(missing)}")
        return self

    def key_columns(self) -> list[str]:
        return [c.name for c in self.modified_columns if c.is_key]

    def partition_columns(self) -> list[str]:
        """The columns ``partition_by`` reads."""
        return partition_columns(self.partition_by)

    def unselected_columns(self) -> list[str]:
        """Columns left out of the copy; a column without an entry is loaded."""
        return [c.name for c in self.modified_columns if not c.is_selected]


class SourceTable(Strict):
    """A table (``name``) or a custom SQL query (``query``); for file sources a path or glob."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=NAME_OR_QUERY)

    name: str | None = Field(default=None, min_length=1)
    query: str | None = Field(default=None, min_length=1)
    details: TableDetails = Field(default_factory=TableDetails)

    @model_validator(mode="after")
    def _name_or_query(self) -> SourceTable:
        if (self.name is None) == (self.query is None):
            raise ValueError("give exactly one of 'name' (a table) and 'query' (custom SQL)")
        if self.query is not None and not self.details.target_table:
            raise ValueError("a custom query needs details.target_table")
        return self

    @property
    def target_table(self) -> str:
        """Where this table lands (before the target's ``table_prefix``)."""
        return self.details.target_table or (self.name or "")


class SourceSchema(Strict):
    name: str = Field(
        default="", description="Schema (database) of the tables; free text for files."
    )
    tables: list[SourceTable] = Field(min_length=1)


class CdcSettings(Strict):
    """How the river's ``cdc`` tables read the change log (one slot or binlog reader per river)."""

    mode: Literal["micro_batch", "continuous"] = Field(
        default="micro_batch",
        description="micro_batch: each run applies what accumulated; continuous: a run keeps "
        "applying until it is canceled or the river is disabled.",
    )
    commit_seconds: float = Field(
        default=5.0, ge=0.1, le=3600, description="continuous: poll the log this often."
    )
    commit_changes: int = Field(
        default=10_000, ge=1, le=10_000_000, description="Commit at the target every N changes."
    )
    snapshot_chunk_rows: int = Field(
        default=1_000_000,
        ge=1000,
        le=1_000_000_000,
        description="Initial snapshot: rows per committed (resumable) chunk.",
    )
    retained_warning_bytes: int = Field(
        default=1024**3,
        ge=1024 * 1024,
        description="Warn when the source keeps more log than this for the river.",
    )
    on_disable: Literal["keep", "drop"] = Field(
        default="keep",
        description="When the river is disabled or deleted: keep its replication slot (changes "
        "keep accumulating at the source) or drop it (the next run snapshots again).",
    )


class S2TSource(Strict):
    connection_id: ObjectId
    run_type: Literal["multi_tables"] = "multi_tables"
    cdc: CdcSettings = Field(default_factory=CdcSettings)


class S2TTarget(Strict):
    connection_id: ObjectId
    schema_name: str | None = Field(
        default=None, description="Default: the target's own default (public, main, ...)."
    )
    loading_method: LoadingMethod = "overwrite"
    table_prefix: str | None = Field(default=None, description="Prepended to every target table.")
    schema_drift: Literal["evolve", "freeze", "fail"] = Field(
        default="evolve",
        description="New/widened source columns: evolve the target, freeze (ignore them) or fail.",
    )
    add_metadata_columns: bool = Field(
        default=False, description="Add _hw_loaded_at and _hw_load_id to every loaded row."
    )


class S2TProperties(Strict):
    source: S2TSource
    target: S2TTarget
    schemas: list[SourceSchema] = Field(min_length=1)


class SrcToTrgtRiver(RiverBase):
    type: Literal["src_to_trgt", "source_to_target"]
    properties: S2TProperties
