"""Spec of the MySQL/MariaDB connector (no driver import here)."""

from __future__ import annotations

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec


def spec() -> ConnectorSpec:
    return ConnectorSpec(
        name="mysql",
        title="MySQL / MariaDB",
        description="MySQL 5.7+/8 and MariaDB 10.3+ as a source and a target.",
        properties=(
            PropertySpec("host", "string", required=True, default="localhost"),
            PropertySpec("port", "integer", default=3306),
            PropertySpec(
                "database",
                "string",
                required=True,
                description="Database (schema) tables are read from or written to",
            ),
            PropertySpec("username", "string", required=True),
            PropertySpec("password", "password", secret=True),
        ),
        capabilities=Capabilities(
            sql_dialect="mysql",
            transactional=True,
            merge_strategy="delete_insert",
            keyed_writes=True,
            max_identifier_length=64,
            identifier_length_unit="characters",
            key_ranges=True,
            snapshot=False,
            server_side_cancel=True,
            schemas=True,
            native_stream_format=None,
            type_dialect="mysql",
            change_capture=True,
        ),
        source_class="headwater.connectors.mysql.source:MySQLSource",
        statements_class="headwater.connectors.mysql.statements:MysqlStatements",
        target_class="headwater.connectors.mysql.target:MySQLTarget",
    )
