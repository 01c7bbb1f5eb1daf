"""A decoder for PostgreSQL's ``pgoutput`` logical replication messages (protocol 1).

No maintained decoder exists on PyPI, and the format is small and stable: one message per
row of ``pg_logical_slot_peek_binary_changes``, starting with a one-byte tag. Only the
messages a change capture needs are decoded (Begin, Commit, Relation, Insert, Update,
Delete, Truncate); Origin, Type and logical Message are recognised and skipped.

Column values come as the server's text form (``t``), SQL NULL (``n``) or "unchanged TOAST
value" (``u``: an update that did not touch a large value, which the server does not send
again). See https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: ``u`` in a tuple: the column kept its (TOASTed) value and the server did not resend it.
UNCHANGED = object()

_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)


def lsn_text(value: int) -> str:
    """``0/16B3748`` as PostgreSQL prints an LSN."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def lsn_int(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True)
class RelationColumn:
    name: str
    type_oid: int
    type_modifier: int
    key: bool


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    #: ``d`` default (primary key), ``n`` nothing, ``f`` full, ``i`` index.
    replica_identity: str
    columns: tuple[RelationColumn, ...]


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    committed_at: datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    committed_at: datetime


Values = tuple[object, ...]


@dataclass(frozen=True)
class Insert:
    relation: int
    new: Values


@dataclass(frozen=True)
class Update:
    relation: int
    new: Values
    #: The old key (``K``, when a key column changed) or the whole old row (``O``,
    #: ``REPLICA IDENTITY FULL``); ``None`` when the server logged neither.
    old: Values | None
    old_kind: str | None


@dataclass(frozen=True)
class Delete:
    relation: int
    old: Values
    old_kind: str


@dataclass(frozen=True)
class Truncate:
    relations: tuple[int, ...]


Message = Relation | Begin | Commit | Insert | Update | Delete | Truncate | None


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 1

    def unpack(self, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def byte(self) -> str:
        value = chr(self.data[self.pos])
        self.pos += 1
        return value

    def string(self) -> str:
        end = self.data.index(b"\x00", self.pos)
        value = self.data[self.pos : end].decode()
        self.pos = end + 1
        return value

    def tuple_data(self) -> Values:
        (count,) = self.unpack("!H")
        values: list[object] = []
        data = self.data
        for _ in range(count):
            kind = chr(data[self.pos])
            self.pos += 1
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED)
            elif kind in ("t", "b"):
                (length,) = struct.unpack_from("!I", data, self.pos)
                self.pos += 4
                values.append(bytes(data[self.pos : self.pos + length]))
                self.pos += length
            else:
                raise ValueError(f"pgoutput: unknown tuple value kind {kind!r}")
        return tuple(values)


def _timestamp(micros: int) -> datetime:
    return _EPOCH_2000 + timedelta(microseconds=micros)


def decode(data: bytes) -> Message:
    """One pgoutput message; ``None`` for the kinds a change capture does not use."""
    tag = chr(data[0])
    reader = _Reader(data)
    if tag == "B":
        final_lsn, micros, xid = reader.unpack("!QqI")
        return Begin(final_lsn, _timestamp(micros), xid)
    if tag == "C":
        _flags, commit_lsn, end_lsn, micros = reader.unpack("!BQQq")
        return Commit(commit_lsn, end_lsn, _timestamp(micros))
    if tag == "R":
        (oid,) = reader.unpack("!I")
        schema, name = reader.string(), reader.string()
        identity = reader.byte()
        (count,) = reader.unpack("!H")
        columns = []
        for _ in range(count):
            (flags,) = reader.unpack("!B")
            column_name = reader.string()
            type_oid, modifier = reader.unpack("!Ii")
            columns.append(RelationColumn(column_name, type_oid, modifier, bool(flags & 1)))
        return Relation(oid, schema, name, identity, tuple(columns))
    if tag == "I":
        (oid,) = reader.unpack("!I")
        reader.byte()  # 'N'
        return Insert(oid, reader.tuple_data())
    if tag == "U":
        (oid,) = reader.unpack("!I")
        kind = reader.byte()
        old = None
        old_kind = None
        if kind in ("K", "O"):
            old, old_kind = reader.tuple_data(), kind
            kind = reader.byte()
        if kind != "N":
            raise ValueError(f"pgoutput: unexpected update part {kind!r}")
        return Update(oid, reader.tuple_data(), old, old_kind)
    if tag == "D":
        (oid,) = reader.unpack("!I")
        kind = reader.byte()
        return Delete(oid, reader.tuple_data(), kind)
    if tag == "T":
        count, _options = reader.unpack("!IB")
        return Truncate(reader.unpack(f"!{count}I") if count else ())
    if tag in ("O", "Y", "M"):
        return None
    raise ValueError(f"pgoutput: unknown message tag {tag!r}")
