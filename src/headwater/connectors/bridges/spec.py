"""Specs of the ``airbyte`` and ``singer`` connection types (nothing imported to list them)."""

from __future__ import annotations

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec

CAPABILITIES = Capabilities(
    transactional=False,
    merge_strategy="none",
    key_ranges=False,
    snapshot=False,
    server_side_cancel=True,
    schemas=False,
    type_dialect="arrow",
    metering="per_execution",
    connector_state=True,
)

_SHARED = (
    PropertySpec(
        "config",
        "string",
        default="{}",
        description="The connector's own configuration as a JSON object, without secrets",
    ),
    PropertySpec(
        "secret_config",
        "password",
        secret=True,
        description='Secret settings as JSON, stored encrypted: {"api_key": "..."}; a dotted '
        'name ("credentials.token") sets a nested field',
    ),
    PropertySpec(
        "executable",
        "string",
        description="The program to run from the package (default: found from its name)",
    ),
    PropertySpec(
        "nested",
        "string",
        default="json",
        description="json: nested objects as JSON text; flatten: parent__child columns",
    ),
    PropertySpec(
        "idle_timeout_seconds",
        "integer",
        default=600,
        description="Stop a connector that prints nothing for this long",
    ),
)


def airbyte() -> ConnectorSpec:
    return ConnectorSpec(
        name="airbyte",
        title="Airbyte source",
        description="An Airbyte Python source from PyPI (airbyte-source-*) or a declarative "
        "YAML manifest, installed with `headwater connectors install`; streams are tables.",
        properties=(
            PropertySpec(
                "package",
                "string",
                description="The installed package, e.g. airbyte-source-faker==7.2.1 "
                "(airbyte-cdk for a manifest)",
            ),
            PropertySpec("manifest", "path", description="A declarative manifest (YAML file)"),
            *_SHARED,
        ),
        capabilities=CAPABILITIES,
        source_class="headwater.connectors.bridges.airbyte:AirbyteSource",
    )


def singer() -> ConnectorSpec:
    return ConnectorSpec(
        name="singer",
        title="Singer tap",
        description="A Singer tap from PyPI (tap-*), installed with `headwater connectors "
        "install`; streams are tables.",
        properties=(
            PropertySpec(
                "package",
                "string",
                required=True,
                description="The installed package, e.g. tap-github==1.10.0",
            ),
            *_SHARED,
        ),
        capabilities=CAPABILITIES,
        source_class="headwater.connectors.bridges.singer:SingerSource",
    )
