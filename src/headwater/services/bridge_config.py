"""Saving an ``airbyte`` or ``singer`` connection: its config against the connector's spec.

Runs after the per-property checks of :mod:`headwater.services.connections`: with the
package installed, a config that breaks the connector's JSON Schema is a 422 naming each
field and rule (never its value, which may be secret); without it the connection is saved
and the check happens at the connection test (see ``connectors.bridges.config_check``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.connectors.bridges import config_check
from headwater.connectors.bridges.source import parse_json_object
from headwater.connectors.errors import ConfigurationError
from headwater.errors import InvalidFields
from headwater.security.crypto import MASK, SecretBox

BRIDGE_TYPES = ("airbyte", "singer")


def _object(text: Any, name: str) -> dict[str, Any]:
    """The property as the connector will read it (``parse_json_object``), refused as a field
    422 here rather than at the run."""
    try:
        return parse_json_object(text, name)
    except ConfigurationError:
        raise InvalidFields([(f"properties.{name}", "must be a JSON object")]) from None


def check_connector_config(
    connection_type: str,
    properties: Mapping[str, Any],
    plain: Mapping[str, Any],
    secrets: Mapping[str, Any],
    box: SecretBox,
    purpose: str,
) -> None:
    """Raise a field 422 when the config breaks the installed connector's spec.

    ``properties`` is the request's; ``plain`` and ``secrets`` what will be stored (a
    ``secret_config`` sent back as the mask is the stored one, decrypted here)."""
    if connection_type not in BRIDGE_TYPES:
        return
    sent = properties.get("secret_config")
    if sent == MASK and secrets.get("secret_config"):
        sent = box.decrypt(str(secrets["secret_config"]), purpose=purpose)
    config = _object(plain.get("config"), "config")
    secret_config = _object(sent, "secret_config")
    found, _checked = config_check.check(connection_type, plain, config, secret_config)
    if found:
        raise InvalidFields(found)
