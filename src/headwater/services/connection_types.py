"""The connection-type catalogue, read from the connector registry, and connection tests.

This module is the only place the metadata side touches ``headwater.connectors``: it lists
specs (no driver is imported for that) and opens a source or target to test a connection. A
built-in connector whose spec module fails to import is left out of the catalogue with a
warning instead of breaking every connection endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from headwater.connectors.base import ConnectorSpec, PropertySpec
from headwater.connectors.registry import BUILTIN_SPECS, Registry, _load_object

logger = logging.getLogger(__name__)

#: Types whose source "tables" are file paths or globs (``details.file_format`` required).
FILE_SOURCE_TYPES = frozenset({"local_files", "s3"})


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The process-wide registry: built-ins that import, plus entry-point plugins."""
    specs: list[ConnectorSpec] = []
    for path in BUILTIN_SPECS:
        try:
            specs.append(_load_object(path)())
        except Exception as exc:  # one missing connector must not hide the others
            logger.warning("connector spec %s is unavailable: %s", path, exc)
    found = Registry(specs)
    found.load_plugins()
    return found


def all_specs() -> list[ConnectorSpec]:
    reg = registry()
    return [reg.get(name) for name in reg.names()]


def find_spec(name: str) -> ConnectorSpec | None:
    reg = registry()
    return reg.get(name) if name in reg.names() else None


def is_secret(prop: PropertySpec) -> bool:
    return prop.secret or prop.type == "password"


def is_local_path(prop: PropertySpec) -> bool:
    """A property naming a file or folder on this server (type ``path``): checked against
    ``HEADWATER_LOCAL_ROOTS`` at save time and again when a connector opens it."""
    return prop.type == "path"


def secret_names(spec: ConnectorSpec) -> set[str]:
    return {p.name for p in spec.properties if is_secret(p)}


def open_for_test(spec: ConnectorSpec, props: Mapping[str, Any]) -> Any:
    """A source (or, for target-only types, a target) ready for its ``test()``."""
    reg = registry()
    if "source" in spec.roles:
        return reg.open_source(spec.name, props)
    return reg.open_target(spec.name, props)
