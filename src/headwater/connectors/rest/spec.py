"""Spec of the ``http`` connector (no httpx import here)."""

from __future__ import annotations

from headwater.connectors.base import Capabilities, ConnectorSpec, PropertySpec

AUTH_TYPES = ("none", "basic", "bearer", "api_key", "oauth2_client_credentials")


def spec() -> ConnectorSpec:
    return ConnectorSpec(
        name="http",
        title="REST API",
        description="A JSON HTTP API as a source: one table per endpoint, paginated.",
        properties=(
            PropertySpec("base_url", "string", required=True, description="https://api.x.com/v1"),
            PropertySpec(
                "auth_type",
                "string",
                default="none",
                description="none, basic, bearer, api_key or oauth2_client_credentials",
                choices=AUTH_TYPES,
            ),
            PropertySpec("username", "string", description="basic auth"),
            PropertySpec("password", "password", secret=True, description="basic auth"),
            PropertySpec("token", "password", secret=True, description="bearer token"),
            PropertySpec("api_key", "password", secret=True),
            PropertySpec("api_key_name", "string", default="X-API-Key"),
            PropertySpec(
                "api_key_in",
                "string",
                default="header",
                description="header or query",
                choices=("header", "query"),
            ),
            PropertySpec("token_url", "string", description="OAuth2 token endpoint"),
            PropertySpec("client_id", "string", description="OAuth2 client id"),
            PropertySpec("client_secret", "password", secret=True),
            PropertySpec("scope", "string", description="OAuth2 scope"),
            PropertySpec(
                "headers",
                "string",
                secret=True,
                description='Extra headers as JSON: {"A": "b"} (secret: they often carry keys)',
                json_object=True,
            ),
            PropertySpec("timeout_seconds", "integer", default=30),
            PropertySpec("max_retries", "integer", default=5, description="On 429, 5xx, errors"),
            PropertySpec("max_retry_wait_seconds", "integer", default=120),
            PropertySpec("verify_tls", "boolean", default=True),
        ),
        capabilities=Capabilities(
            transactional=False,
            merge_strategy="none",
            max_identifier_length=0,
            key_ranges=False,
            snapshot=False,
            server_side_cancel=False,
            schemas=False,
            native_stream_format=None,
            type_dialect="arrow",
            metering="per_execution",
        ),
        source_class="headwater.connectors.rest.source:RestSource",
        target_class=None,
    )
