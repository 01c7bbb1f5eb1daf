"""Discovery: the tables and columns a source connection sees, and the types a target makes.

The console's data-flow builder shows this so a user picks tables instead of typing names. It
opens the connector exactly as a connection test does (the deployment's outbound and local-path
policies in force, secrets decrypted only in memory) and turns any failure into a message
without secrets, so a wrong password shows as a sentence next to the picker, never as a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from headwater.connectors.base import Column, Table
from headwater.connectors.errors import ConnectorError
from headwater.security import local_paths
from headwater.security.crypto import SecretBox
from headwater.security.local_paths import LocalPathPolicy
from headwater.security.ssrf import OutboundPolicy, reset_policy, set_policy
from headwater.services import connection_types
from headwater.services.connections import _scrub, decrypted_properties, get_connection
from headwater.services.envscope import EnvScope

#: Most tables listed for one schema; a larger schema is cut with a note (search narrows it).
MAX_TABLES = 2000


@dataclass(frozen=True)
class ColumnView:
    name: str
    source_type: str
    target_type: str
    primary_key: bool
    #: The ``incremental_type`` this column would have as a cursor, or ``None`` if unsuitable.
    cursor_kind: str | None


@dataclass(frozen=True)
class TableView:
    schema: str | None
    name: str
    columns: tuple[ColumnView, ...]
    #: Approximate rows from the source's statistics; ``None`` when it keeps none.
    rows: int | None = None

    @property
    def primary_key(self) -> list[str]:
        return [c.name for c in self.columns if c.primary_key]


@dataclass
class Discovery:
    tables: list[TableView] = field(default_factory=list)
    error: str = ""
    truncated: bool = False
    file_tables: bool = False


def cursor_kind(column: Column) -> str | None:
    """Which ``incremental_type`` a column can drive: timestamps, dates, numbers, text."""
    kind = column.arrow_type
    if pa.types.is_timestamp(kind):
        return "timestamp"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    if column.semantic is None and (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return "string"
    return None


@contextmanager
def _policies(outbound: OutboundPolicy | None, paths: LocalPathPolicy | None) -> Iterator[None]:
    token = set_policy(outbound) if outbound is not None else None
    paths_token = local_paths.set_policy(paths) if paths is not None else None
    try:
        yield
    finally:
        if token is not None:
            reset_policy(token)
        if paths_token is not None:
            local_paths.reset_policy(paths_token)


def _target_typer(session: Session, box: SecretBox, scope: EnvScope, target_id: str) -> Any:
    """A function column -> target type text, or ``None`` when the target cannot be opened."""
    if not target_id:
        return None
    try:
        target = get_connection(session, scope, target_id)
        props = decrypted_properties(box, target)
        opened = connection_types.registry().open_target(target.connection_type, props)
    except Exception:  # the types are only a hint: the run reports real problems
        return None
    return opened


def discover(
    session: Session,
    box: SecretBox,
    scope: EnvScope,
    source_id: str,
    *,
    schema: str | None = None,
    target_id: str = "",
    outbound: OutboundPolicy | None = None,
    paths: LocalPathPolicy | None = None,
) -> Discovery:
    """Tables of ``schema`` (default: the source's default) with each column's type in the
    target; every failure is a secret-free ``error`` instead of an exception."""
    connection = get_connection(session, scope, source_id)
    spec = connection_types.find_spec(connection.connection_type)
    if spec is None or "source" not in spec.roles:
        return Discovery(error=f"{connection.name!r} cannot be read from (it is not a source)")
    props = decrypted_properties(box, connection)
    secrets = [str(props[n]) for n in connection.secrets]
    found: list[Table] = []
    with _policies(outbound, paths):
        typer = _target_typer(session, box, scope, target_id)
        try:
            source = connection_types.registry().open_source(spec.name, props)
            try:
                found = source.discover(schema or None)
                estimates = _estimates(source, schema)
            finally:
                source.close()
            views = [_view(table, typer, estimates) for table in found[:MAX_TABLES]]
        except ConnectorError as exc:
            return Discovery(error=_scrub(str(exc), secrets))
        except Exception as exc:  # a driver error the connector did not classify
            return Discovery(error=_scrub(f"{type(exc).__name__}: {exc}", secrets))
        finally:
            if typer is not None:
                typer.close()
    views.sort(key=lambda t: (t.schema or "", t.name))
    return Discovery(
        tables=views,
        truncated=len(found) > MAX_TABLES,
        file_tables=spec.capabilities.file_tables,
    )


def _estimates(source: Any, schema: str | None) -> dict[str, int]:
    """Row estimates are a hint: a source that cannot give them shows none."""
    try:
        found: dict[str, int] = source.estimate_rows(schema or None)
    except Exception:  # statistics views may be hidden from this user; the tables still list
        return {}
    return found


def _view(table: Table, typer: Any, estimates: dict[str, int]) -> TableView:
    columns = []
    for column in table.columns:
        try:
            target_type = typer.type_for(column) if typer is not None else ""
        except Exception:  # an unmappable type shows blank; the run explains it
            target_type = ""
        columns.append(
            ColumnView(
                name=column.name,
                source_type=column.source_type,
                target_type=target_type,
                primary_key=column.primary_key,
                cursor_kind=cursor_kind(column),
            )
        )
    rows = estimates.get(table.ref.name)
    return TableView(table.ref.schema, table.ref.name, tuple(columns), rows)
