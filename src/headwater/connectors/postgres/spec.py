"""Spec of the PostgreSQL connector (no driver import here)."""

from __future__ import annotations

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec

NATIVE_FORMAT = "postgresql-binary-copy-rows"


def spec() -> ConnectorSpec:
    return ConnectorSpec(
        name="postgres",
        title="PostgreSQL",
        description="PostgreSQL 12+ as a source (Arrow via ADBC, binary COPY) and a target.",
        properties=(
            PropertySpec("host", "string", required=True, default="localhost"),
            PropertySpec("port", "integer", default=5432),
            PropertySpec("database", "string", required=True),
            PropertySpec("username", "string", required=True),
            PropertySpec("password", "password", secret=True),
            PropertySpec("schema", "string", default="public", description="Default schema"),
            PropertySpec(
                "sslmode",
                "string",
                default="prefer",
                description="libpq sslmode",
                choices=("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
            ),
        ),
        capabilities=Capabilities(
            sql_dialect="postgres",
            transactional=True,
            merge_strategy="on_conflict",
            max_identifier_length=63,
            key_ranges=True,
            snapshot=True,
            server_side_cancel=True,
            schemas=True,
            native_stream_format=NATIVE_FORMAT,
            type_dialect="postgresql",
            change_capture=True,
            keyed_writes=True,
            publishes_parts=True,
        ),
        source_class="headwater.connectors.postgres.source:PostgresSource",
        statements_class="headwater.connectors.postgres.statements:PostgresStatements",
        target_class="headwater.connectors.postgres.target:PostgresTarget",
    )
