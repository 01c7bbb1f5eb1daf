"""Spec of the SQLite connector."""

from __future__ import annotations

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec


def spec() -> ConnectorSpec:
    return ConnectorSpec(
        name="sqlite",
        title="SQLite",
        description="A SQLite database file as a source and a target.",
        properties=(PropertySpec("path", "path", required=True, description="Database file"),),
        capabilities=Capabilities(
            concurrent_loads=False,
            sql_dialect="sqlite",
            transactional=True,
            merge_strategy="delete_insert",
            keyed_writes=True,
            max_identifier_length=0,
            key_ranges=False,
            snapshot=False,
            server_side_cancel=True,
            schemas=False,
            native_stream_format=None,
            type_dialect="sqlite",
        ),
        source_class="headwater.connectors.sqlite.source:SQLiteSource",
        statements_class="headwater.connectors.sqlite.statements:SqliteStatements",
        target_class="headwater.connectors.sqlite.target:SQLiteTarget",
    )
