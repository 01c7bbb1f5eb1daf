"""The run-time half of the local-path rule: check a path just before a connector opens it.

``security.local_paths`` decides (data dir never, allowed folders, symlinks resolved); this
module turns a refusal into a :class:`ConfigurationError`, so a run fails with a message naming
the path, and hands back the resolved path to open (a symlink swapped in afterwards is not
followed again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.connectors.errors import ConfigurationError
from headwater.security.local_paths import PathRefused, current_policy


def checked_path(path: str, what: str) -> str:
    """The real path to open, or ``ConfigurationError`` when no connection may open it."""
    try:
        return current_policy().check_open(path, what)
    except PathRefused as exc:
        raise ConfigurationError(str(exc)) from None


def checked_props(
    connector: str, path_names: list[str], props: Mapping[str, Any]
) -> dict[str, Any]:
    """``props`` with every non-empty path property checked and replaced by its real path."""
    checked = dict(props)
    for name in path_names:
        value = checked.get(name)
        if value not in (None, ""):
            checked[name] = checked_path(str(value), f"The {connector} connection's {name}")
    return checked
