"""One target commit of change capture: source transactions folded into rows and keyed writes.

Three ways to apply, chosen per table:

* ``apply`` (merge targets): the changes of a batch are collapsed per key in commit order,
  so each key ends as one upsert (its last row) or one delete; an update of the key deletes
  the old key. Deletes are hard deletes, or soft ones that set ``_hw_deleted_at``.
* ``history`` (SCD type 2): every version is a row with ``_hw_valid_from``/``_hw_valid_to``/
  ``_hw_is_current``; a change closes the key's current version and appends the new one.
* ``log`` (append-only change log, for tables without a primary key): every change is a row
  with its ``_hw_op``, ``_hw_lsn`` and ``_hw_committed_at``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa

from headwater.connectors.base import Column, KeyedWrite
from headwater.connectors.changes import ChangeTransaction
from headwater.connectors.errors import ValueRejected

Mode = Literal["apply", "history", "log"]

OP, LSN, COMMITTED_AT = "_hw_op", "_hw_lsn", "_hw_committed_at"
DELETED_AT = "_hw_deleted_at"
VALID_FROM, VALID_TO, IS_CURRENT = "_hw_valid_from", "_hw_valid_to", "_hw_is_current"

_TS = pa.timestamp("us", tz="UTC")


def _meta(name: str, arrow_type: pa.DataType) -> Column:
    return Column(name, str(arrow_type), arrow_type)


def meta_columns(mode: Mode, soft_deletes: bool, change_columns: bool) -> list[Column]:
    """The columns change capture adds to the target table, in order."""
    columns = []
    if change_columns or mode == "log":
        columns += [_meta(OP, pa.string()), _meta(LSN, pa.string()), _meta(COMMITTED_AT, _TS)]
    if mode == "apply" and soft_deletes:
        columns.append(_meta(DELETED_AT, _TS))
    if mode == "history":
        columns += [_meta(VALID_FROM, _TS), _meta(VALID_TO, _TS), _meta(IS_CURRENT, pa.bool_())]
    return columns


@dataclass
class _Version:
    op: str
    values: dict[str, Any]
    log_position: str
    committed_at: datetime
    missing: frozenset[str] = frozenset()
    valid_to: datetime | None = None


@dataclass
class Batch:
    """The transactions read since the last target commit."""

    mode: Mode
    key: tuple[str, ...]
    latest: dict[tuple[Any, ...], _Version] = field(default_factory=dict)
    versions: list[tuple[tuple[Any, ...], _Version]] = field(default_factory=list)
    truncated: _Version | None = None
    count: int = 0
    size_bytes: int = 0
    position: str | None = None
    committed_at: datetime | None = None
    seen: dict[str, None] = field(default_factory=dict)

    def add(self, txn: ChangeTransaction) -> None:
        for change in txn.changes:
            self.count += 1
            version = _Version(
                change.op,
                dict(zip(change.columns, change.values, strict=True)),
                txn.log_position,
                txn.committed_at,
                change.missing,
            )
            self.seen.update(dict.fromkeys(change.columns))
            if change.op == "truncate":
                self._truncate(version)
                continue
            key = tuple(version.values.get(k) for k in self.key)
            if change.old_key is not None:
                gone = _Version("delete", {}, txn.log_position, txn.committed_at)
                self._record(change.old_key, gone)
            self._record(key, version)
        self.size_bytes += txn.size_bytes
        self.position = txn.position
        self.committed_at = txn.committed_at

    def _truncate(self, version: _Version) -> None:
        if self.mode == "log":
            self.versions.append(((), version))
            return
        self.latest.clear()
        if self.mode == "history":
            for _key, earlier in self.versions:
                if earlier.valid_to is None:
                    earlier.valid_to = version.committed_at
        self.truncated = version

    def _record(self, key: tuple[Any, ...], version: _Version) -> None:
        if self.mode == "apply":
            self.latest[key] = version
            return
        if self.mode == "history":
            previous = self.latest.get(key)
            if previous is not None and previous.valid_to is None:
                previous.valid_to = version.committed_at
            self.latest[key] = version
        self.versions.append((key, version))

    def missing_keys(self) -> list[tuple[Any, ...]]:
        """Keys whose last upsert lacks values the log did not carry (unchanged TOAST)."""
        return [k for k, v in self.latest.items() if v.missing and v.op != "delete"]

    def fill(self, found: dict[tuple[Any, ...], dict[str, Any]]) -> None:
        for key, values in found.items():
            version = self.latest.get(key)
            if version is not None:
                for name in version.missing:
                    version.values[name] = values.get(name)

    # -- output -------------------------------------------------------------------------------

    def keyed_writes(self, soft_deletes: bool, change_columns: bool) -> list[KeyedWrite]:
        """Truncate, deletes (apply) or closed versions (history), in this order."""
        writes: list[KeyedWrite] = []
        meta = (OP, LSN, COMMITTED_AT) if change_columns else ()
        if self.truncated is not None:
            t = self.truncated
            extra = ("truncate", t.log_position, t.committed_at) if change_columns else ()
            if self.mode == "history":
                writes.append(
                    KeyedWrite(
                        (), [(t.committed_at, False)], (VALID_TO, IS_CURRENT), IS_CURRENT, True
                    )
                )
            elif soft_deletes:
                writes.append(
                    KeyedWrite((), [(t.committed_at, *extra)], (DELETED_AT, *meta), everything=True)
                )
            else:
                writes.append(KeyedWrite((), [()], everything=True))
        if self.mode == "apply":
            gone = [(k, v) for k, v in self.latest.items() if v.op == "delete"]
            if gone and soft_deletes:
                rows = [
                    (
                        *k,
                        v.committed_at,
                        *(("delete", v.log_position, v.committed_at) if meta else ()),
                    )
                    for k, v in gone
                ]
                writes.append(KeyedWrite(self.key, rows, (DELETED_AT, *meta)))
            elif gone:
                writes.append(KeyedWrite(self.key, [k for k, _ in gone]))
        elif self.mode == "history":
            first: dict[tuple[Any, ...], datetime] = {}
            for key, version in self.versions:
                first.setdefault(key, version.committed_at)
            if first:
                rows = [(*k, at, False) for k, at in first.items()]
                writes.append(KeyedWrite(self.key, rows, (VALID_TO, IS_CURRENT), IS_CURRENT))
        return writes

    def rows(self, data: Sequence[Column], meta: Sequence[Column]) -> pa.RecordBatch | None:
        """The rows to load: upserts (apply), new versions (history) or changes (log)."""
        if self.mode == "apply":
            chosen = [v for v in self.latest.values() if v.op != "delete"]
        elif self.mode == "history":
            chosen = [v for _k, v in self.versions if v.op != "delete"]
        else:
            chosen = [v for _k, v in self.versions]
        if not chosen:
            return None
        arrays = [_array(c, [v.values.get(c.name) for v in chosen]) for c in data]
        for column in meta:
            arrays.append(_array(column, [_meta_value(column.name, v) for v in chosen]))
        names = [c.name for c in (*data, *meta)]
        return pa.RecordBatch.from_arrays(arrays, names=names)


def _meta_value(name: str, version: _Version) -> Any:
    if name == OP:
        return version.op
    if name == LSN:
        return version.log_position
    if name in (COMMITTED_AT, VALID_FROM):
        return version.committed_at
    if name == VALID_TO:
        return version.valid_to
    if name == IS_CURRENT:
        return version.valid_to is None
    return None  # _hw_deleted_at of an upserted row


def _array(column: Column, values: list[Any]) -> pa.Array:
    try:
        return pa.array(values, type=column.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as exc:
        raise ValueRejected(
            f"column {column.name!r} ({column.source_type}) has a changed value that cannot be "
            f"carried as {column.arrow_type}: {exc}"
        ) from None


def constant_columns(
    meta: Sequence[Column], rows: int, position: str, at: datetime
) -> list[pa.Array]:
    """The metadata columns of snapshot rows: op ``snapshot`` at the snapshot's position."""
    snapshot = _Version("snapshot", {}, position, at)
    return [pa.array([_meta_value(c.name, snapshot)] * rows, type=c.arrow_type) for c in meta]
