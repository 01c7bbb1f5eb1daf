"""Spec of the Snowflake connector (no driver import here)."""

from __future__ import annotations

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec


def spec() -> ConnectorSpec:
    return ConnectorSpec(
        name="snowflake",
        title="Snowflake",
        description=(
            "Snowflake as a source (Arrow result batches) and a target (Parquet files PUT to "
            "an internal stage, COPY INTO a staging table, published in one transaction)."
        ),
        properties=(
            PropertySpec(
                "account",
                "string",
                required=True,
                description="Account identifier, e.g. myorg-myaccount or xy12345.eu-central-1",
            ),
            PropertySpec("user", "string", required=True),
            PropertySpec(
                "password", "password", secret=True, description="Password (or use private_key)"
            ),
            PropertySpec(
                "private_key",
                "password",
                secret=True,
                description="PEM private key for key-pair authentication (instead of password)",
            ),
            PropertySpec(
                "private_key_passphrase",
                "password",
                secret=True,
                description="Passphrase of an encrypted private_key",
            ),
            PropertySpec("role", "string"),
            PropertySpec("warehouse", "string"),
            PropertySpec(
                "database",
                "string",
                required=True,
                description="Database tables are read from or written to",
            ),
            PropertySpec("schema", "string", default="PUBLIC", description="Default schema"),
            PropertySpec(
                "identifier_case",
                "string",
                default="upper",
                choices=("upper", "preserve"),
                description=(
                    "upper: a lower-case name such as order_id is created as ORDER_ID, as an "
                    "unquoted name would be; preserve: every name is kept exactly (quoted)"
                ),
            ),
            PropertySpec(
                "host",
                "string",
                description="Overrides <account>.snowflakecomputing.com (private link, tests)",
            ),
            PropertySpec("port", "integer", description="Overrides 443"),
            PropertySpec(
                "protocol",
                "string",
                default="https",
                choices=("https", "http"),
                description="http only for local test servers",
            ),
        ),
        capabilities=Capabilities(
            sql_dialect="snowflake",
            transactional=True,
            merge_strategy="merge",
            max_identifier_length=255,
            identifier_length_unit="characters",
            key_ranges=False,
            snapshot=False,
            server_side_cancel=True,
            schemas=True,
            native_stream_format=None,
            type_dialect="snowflake",
        ),
        source_class="headwater.connectors.snowflake.source:SnowflakeSource",
        statements_class="headwater.connectors.snowflake.statements:SnowflakeStatements",
        target_class="headwater.connectors.snowflake.target:SnowflakeTarget",
    )
