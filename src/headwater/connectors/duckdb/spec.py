"""Spec of the DuckDB connector."""

from __future__ import annotations

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec


def spec() -> ConnectorSpec:
    return ConnectorSpec(
        name="duckdb",
        title="DuckDB",
        description="A DuckDB database file as a source and a target.",
        properties=(PropertySpec("path", "path", required=True, description="Database file"),),
        capabilities=Capabilities(
            concurrent_loads=False,
            sql_dialect="duckdb",
            transactional=True,
            merge_strategy="delete_insert",
            keyed_writes=True,
            max_identifier_length=0,
            key_ranges=False,
            snapshot=False,
            server_side_cancel=True,
            schemas=True,
            native_stream_format=None,
            type_dialect="duckdb",
        ),
        source_class="headwater.connectors.duckdb.source:DuckDBSource",
        statements_class="headwater.connectors.duckdb.statements:DuckdbStatements",
        target_class="headwater.connectors.duckdb.target:DuckDBTarget",
    )
