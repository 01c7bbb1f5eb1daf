"""Change data capture: what a database source's change reader yields, as plain data.

A source that can read its database's change log (PostgreSQL logical replication, the
MySQL/MariaDB binlog) returns a :class:`ChangeReader` from ``Source.change_reader``. The
engine (``engine.cdc``) asks it for a snapshot aligned with a log position, then for the
committed transactions after a position, applies them to the target and stores the new
position in the same target transaction, and only then lets the reader release the log
(``confirm``). Positions are opaque text to the engine; only the reader compares them.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from headwater.connectors.base import Column, TableRef

Op = Literal["insert", "update", "delete", "truncate"]


@runtime_checkable
class ChangeSource(Protocol):
    """A source with ``Capabilities.change_capture``: it opens a river's change reader."""

    def change_reader(self, name: str) -> ChangeReader: ...


@dataclass(frozen=True)
class Change:
    """One row change of one table, values already in the columns' Arrow carriers.

    ``values`` is the new row (insert, update) or what the log holds of the old row (delete:
    the key, or every column under ``REPLICA IDENTITY FULL``), named by ``columns``.
    ``old_key`` is set when an update changed the key (the key values before it).
    ``missing`` names columns whose value the log did not carry (PostgreSQL's unchanged
    TOAST values); the engine fills them from the source.
    """

    op: Op
    columns: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    old_key: tuple[Any, ...] | None = None
    missing: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChangeTransaction:
    """The changes of one source transaction to the table being read, in log order.

    ``position`` is where a reader resumes after this transaction; ``log_position`` is what
    the optional ``_hw_lsn`` column shows (the commit LSN, the binlog file:position).
    """

    position: str
    log_position: str
    committed_at: datetime
    changes: list[Change] = field(default_factory=list)
    size_bytes: int = 0


@dataclass(frozen=True)
class Lag:
    """How far the committed position is behind the source (``None``: not known)."""

    seconds: float | None
    bytes: int | None
    #: Log the source keeps for this reader (a slot's retained WAL); ``None``: not known.
    retained_bytes: int | None = None


class ChangeReader(ABC):
    """Reads one river's change stream for one table at a time."""

    @abstractmethod
    def prepare(self, table: TableRef) -> None:
        """Check the source settings and the table (a primary key or a usable replica
        identity), and create what the stream needs (publication, slot); idempotent."""

    @abstractmethod
    def snapshot(self) -> contextlib.AbstractContextManager[tuple[str | None, str]]:
        """Hold a snapshot aligned with a log position; yields ``(snapshot id for
        ReadRequest.snapshot, position)``: the snapshot holds every transaction before the
        position and none after."""

    @abstractmethod
    def read(
        self,
        table: TableRef,
        since: str,
        max_changes: int,
        carrier: Callable[[str], Column | None] | None = None,
    ) -> Iterator[ChangeTransaction]:
        """Committed transactions after ``since`` up to the log's end as of the call, in
        commit order (a reader may stop earlier, after about ``max_changes`` changes, at a
        transaction's end). Values are converted to ``carrier(name)``'s Arrow type (default:
        ``columns``); a column whose carrier is ``None`` is left out."""

    @abstractmethod
    def columns(self, table: TableRef, refresh: bool = False) -> dict[str, Column]:
        """The table's columns by name (as ``describe`` gives them), cached."""

    @abstractmethod
    def confirm(self, position: str) -> None:
        """Let the source release its log before ``position`` (every table of the river
        committed at least that far)."""

    @abstractmethod
    def before(self, a: str, b: str) -> bool:
        """Whether position ``a`` comes strictly before ``b``."""

    @abstractmethod
    def lag(self, position: str, committed_at: datetime | None) -> Lag:
        """Lag of a committed position behind the source's current end."""

    @abstractmethod
    def drop(self) -> None:
        """Remove what ``prepare`` created at the source (slot, publication)."""

    def fetch_rows(
        self, table: TableRef, key: Sequence[str], keys: Sequence[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        """Current rows of ``keys`` (values by column name), to fill ``Change.missing``."""
        return {}

    def log_position(self, position: str) -> str:
        """What ``_hw_lsn`` shows for a position (snapshot rows): the position itself."""
        return position

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Idempotent."""
