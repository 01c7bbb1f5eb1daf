"""What a connector is without its driver: typed properties and capabilities.

The catalogue lists these without importing a database driver; the engine reads
:class:`Capabilities` to decide how to copy, never which connector it talks to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from headwater.connectors.errors import ConfigurationError

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
