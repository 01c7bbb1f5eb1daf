"""Run a logic SQL step's statement through its connector's statement capability.

Connectors that can run SQL declare it (``ConnectorSpec.statements_class``, see
``connectors.statements``); the registry opens the runner with the same property, local-path
and outbound checks as a source or target. This module only turns failures into
``SqlFailed`` with the connection type in the message, so a new SQL connector gets logic SQL
steps without any change here.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from headwater.connectors.errors import ConnectorError
from headwater.connectors.registry import Registry
from headwater.connectors.statements import StatementResult

#: The result type of a SQL step's statement (rows of its last result set, bounded).
SqlResult = StatementResult


class SqlFailed(Exception):
    """The statement failed; the message names the connection type and the cause."""

    transient = False


def execute_sql(
    registry: Registry,
    connection_type: str,
    props: Mapping[str, Any],
    sql: str,
    cancel: threading.Event,
) -> StatementResult:
    """Run ``sql`` (one statement or a script) on the connection; rows of the last result."""
    spec = registry.get(connection_type)
    if spec.statements_class is None:
        known = ", ".join(s.name for s in registry.specs() if s.statements_class)
        raise SqlFailed(
            f"SQL steps cannot run on a {connection_type!r} connection (supported: {known})"
        )
    try:
        return registry.open_statements(connection_type, props).execute(sql, cancel)
    except ConnectorError as exc:
        raise SqlFailed(f"{connection_type}: {exc}") from None
    except Exception as exc:
        if cancel.is_set():
            raise
        raise SqlFailed(f"{connection_type}: {type(exc).__name__}: {exc}") from None
