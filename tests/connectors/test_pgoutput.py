"""The pgoutput decoder on hand-built messages (the byte layouts of the protocol docs)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from headwater.connectors.postgres import pgoutput


def tuple_data(*values: object) -> bytes:
    out = struct.pack("!H", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is pgoutput.UNCHANGED:
            out += b"u"
        else:
            raw = str(value).encode()
            out += b"t" + struct.pack("!I", len(raw)) + raw
    return out


def test_transaction_messages_round_trip() -> None:
    micros = 86_400_000_000  # 2000-01-02
    begin = pgoutput.decode(b"B" + struct.pack("!QqI", 0x16B3748, micros, 7))
    assert begin == pgoutput.Begin(0x16B3748, datetime(2000, 1, 2, tzinfo=UTC), 7)
    commit = pgoutput.decode(b"C" + struct.pack("!BQQq", 0, 10, 20, micros))
    assert isinstance(commit, pgoutput.Commit) and (commit.commit_lsn, commit.end_lsn) == (10, 20)
    relation = pgoutput.decode(
        b"R" + struct.pack("!I", 42) + b"public\x00items\x00" + b"d" + struct.pack("!H", 2)
        + b"\x01id\x00" + struct.pack("!Ii", 20, -1) + b"\x00big\x00" + struct.pack("!Ii", 25, -1)
    )  # fmt: skip
    assert isinstance(relation, pgoutput.Relation)
    assert (relation.schema, relation.name, relation.replica_identity) == ("public", "items", "d")
    assert [(c.name, c.key) for c in relation.columns] == [("id", True), ("big", False)]


def test_row_messages() -> None:
    insert = pgoutput.decode(b"I" + struct.pack("!I", 42) + b"N" + tuple_data(1, None))
    assert insert == pgoutput.Insert(42, (b"1", None))
    update = pgoutput.decode(
        b"U" + struct.pack("!I", 42) + b"K" + tuple_data(1, None)
        + b"N" + tuple_data(2, pgoutput.UNCHANGED)
    )  # fmt: skip
    assert isinstance(update, pgoutput.Update)
    assert update.old == (b"1", None) and update.old_kind == "K"
    assert update.new == (b"2", pgoutput.UNCHANGED)
    plain = pgoutput.decode(b"U" + struct.pack("!I", 42) + b"N" + tuple_data(3, "x"))
    assert isinstance(plain, pgoutput.Update) and plain.old is None
    delete = pgoutput.decode(b"D" + struct.pack("!I", 42) + b"O" + tuple_data(3, "x"))
    assert delete == pgoutput.Delete(42, (b"3", b"x"), "O")
    truncate = pgoutput.decode(b"T" + struct.pack("!IBII", 2, 0, 42, 43))
    assert truncate == pgoutput.Truncate((42, 43))
    assert pgoutput.decode(b"Y" + struct.pack("!I", 1) + b"s\x00t\x00") is None


def test_lsn_text_and_unknown_tags() -> None:
    assert pgoutput.lsn_text(0x100000016B3748) == "100000/16B3748"
    assert pgoutput.lsn_int("100000/16B3748") == 0x100000016B3748
    with pytest.raises(ValueError, match="unknown message tag"):
        pgoutput.decode(b"Z")
