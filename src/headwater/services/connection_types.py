"""The connection-type catalogue, read from the connector registry, and connection tests.

Services reach the connector registry through this module: it lists specs (no driver is
imported for that), answers capability questions, and opens a source or target to test a
connection. A connector whose spec fails to load is left out of the registry with one warning
(``connectors.registry.default_registry``) instead of breaking every connection endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from headwater.connectors.base import ConnectorSpec, PropertySpec
from headwater.connectors.registry import Registry, default_registry

logger = logging.getLogger(__name__)


def registry() -> Registry:
    """The process-wide connector registry (``connectors.registry.default_registry``)."""
    return default_registry()


def all_specs() -> list[ConnectorSpec]:
    return registry().specs()


def reads_files(connection_type: str) -> bool:
    """Whether a connection of this type reads file paths as tables (a capability)."""
    spec = registry().find(connection_type)
    return spec is not None and spec.capabilities.file_tables


def loads_concurrently(connection_type: str) -> bool:
    """Whether a target of this type takes loads into several tables at once (a capability)."""
    spec = registry().find(connection_type)
    return spec is not None and spec.capabilities.concurrent_loads


def find_spec(name: str) -> ConnectorSpec | None:
    return registry().find(name)


def is_secret(prop: PropertySpec) -> bool:
    return prop.secret or prop.type == "password"


def is_local_path(prop: PropertySpec, value: Any = "") -> bool:
    """A property naming a file or folder on this server (type ``path``, unless ``value`` is
    one of its remote URLs): checked against ``HEADWATER_LOCAL_ROOTS`` at save time and again
    when a connector opens it."""
    return prop.names_local_path(value)


def secret_names(spec: ConnectorSpec) -> set[str]:
    return {p.name for p in spec.properties if is_secret(p)}


def open_for_test(spec: ConnectorSpec, props: Mapping[str, Any]) -> Any:
    """A source (or, for target-only types, a target) ready for its ``test()``."""
    reg = registry()
    if "source" in spec.roles:
        return reg.open_source(spec.name, props)
    return reg.open_target(spec.name, props)
