"""A bridge connection's config checked against the connector's own spec (JSON Schema).

The schema is the Airbyte ``spec``'s ``connectionSpecification`` (or a manifest's
``spec.connection_specification``) and a Singer tap's ``--about`` ``settings``. It is checked
with the ``jsonschema`` library on the config with the secret settings merged in, when a
connection is saved (a 422 per failing field) and when it is tested. A package that is not
installed yet, or a tap without ``--about``, has no schema here: the config is accepted and
checked at the connection test once the package is installed.

The rules and their messages (which never show a value) are in :mod:`.spec_rules`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from headwater.connectors.bridges.airbyte import AirbyteSource
from headwater.connectors.bridges.packages import PackageError
from headwater.connectors.bridges.process import ConnectorProcessError
from headwater.connectors.bridges.singer import SingerSource
from headwater.connectors.bridges.spec_rules import problems
from headwater.connectors.errors import ConnectorError

#: What picks the connector (and so its spec); the rest of a connection does not matter here.
SPEC_PROPS = ("package", "executable", "manifest")
_CACHE: dict[str, dict[str, Any] | None] = {}
_LOCK = threading.Lock()


def connector_schema(connection_type: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
    """The connector's config schema, or None when there is none to check against yet (the
    package is not installed, the tap has no ``--about``). Kept per venv and version: running
    ``spec`` starts the connector."""
    chosen = {k: props[k] for k in SPEC_PROPS if props.get(k)}
    try:
        if connection_type == "airbyte":
            airbyte = AirbyteSource(chosen)
            if airbyte.manifest is not None:
                return airbyte.spec() or None
            source: AirbyteSource | SingerSource = airbyte
        elif connection_type == "singer":
            if not chosen.get("package"):
                return None
            source = SingerSource(chosen)
        else:
            return None
        package = source.package
    except PackageError:
        return None
    key = json.dumps([connection_type, package.venv, package.version, chosen], sort_keys=True)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    schema: dict[str, Any] | None
    try:
        if isinstance(source, AirbyteSource):
            schema = source.spec() or None
        else:
            settings = source.about().get("settings")
            schema = dict(settings) if isinstance(settings, Mapping) and settings else None
    except ConnectorProcessError:
        schema = None  # a tap without --about: nothing to check against
    with _LOCK:
        _CACHE[key] = schema
    return schema


def check(
    connection_type: str,
    props: Mapping[str, Any],
    config: Mapping[str, Any],
    secrets: Mapping[str, Any],
) -> tuple[list[tuple[str, str]], bool]:
    """``(problems, checked)``: ``checked`` is False when the connector gave no schema."""
    try:
        schema = connector_schema(connection_type, props)
    except ConnectorError:
        return [], False
    if schema is None:
        return [], False
    return problems(schema, config, secrets), True
