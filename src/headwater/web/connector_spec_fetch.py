"""The ``spec`` of an ``airbyte`` connection's installed package, for the edit form.

Running ``spec`` starts the connector (a second or two), so answers are kept per app, keyed by
the package's venv and version (a reinstall gets a new key) and the executable or manifest the
connection names. No secrets are involved: ``spec`` takes no config.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from headwater.connectors.bridges.airbyte import AirbyteSource
from headwater.connectors.errors import ConnectorError
from headwater.security.crypto import SecretBox
from headwater.services.connections import PURPOSE
from headwater.store.models import Connection

SPEC_PROPS = ("package", "executable", "manifest")


def connector_spec(request: Request, properties: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``(connectionSpecification, "")``, or ``({}, why there is no form)``."""
    props = {k: properties[k] for k in SPEC_PROPS if properties.get(k)}
    if not props.get("package") and not props.get("manifest"):
        return {}, "Name the package and save to get a form from the connector's spec."
    cache: dict[str, dict[str, Any]] | None = getattr(request.app.state, "connector_specs", None)
    if cache is None:
        cache = request.app.state.connector_specs = {}
    try:
        source = AirbyteSource(props)
        package = source.package
        key = json.dumps([package.venv, package.version, props], sort_keys=True)
        if key not in cache:
            cache[key] = source.spec()
    except ConnectorError as exc:
        return {}, f"No form from the connector's spec: {exc}"
    return cache[key], ""


def stored_secrets(request: Request, connection: Connection) -> dict[str, Any]:
    """The connection's ``secret_config`` decrypted (keys for set/unset; values to merge)."""
    stored = connection.secrets.get("secret_config")
    if not stored:
        return {}
    box = SecretBox.from_settings(request.app.state.settings)
    try:
        value = json.loads(box.decrypt(stored, purpose=PURPOSE))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
