"""The DuckDB target's streamed staging: one running INSERT fed batch by batch.

What must hold: a value DuckDB rejects in the middle of the stream fails the load with DuckDB's
message and leaves the target and the file without staging tables; a cancel reaches the running
statement; and the staged rows keep the source's order, which a merge's "last row per key"
relies on when a key comes twice in one load.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from headwater.connectors.base import Column, LoadPlan, TableRef
from headwater.connectors.duckdb.conn import connect
from headwater.connectors.duckdb.target import DuckDBTarget
from headwater.connectors.errors import Cancelled, ValueRejected
from tests.connectors.test_duckdb_memory import _merge, _stages


def _numbers_overwrite(load_id: str) -> LoadPlan:
    """An overwrite of ``main.numbers`` (one BIGINT column ``n``)."""
    column = Column("n", "BIGINT", pa.int64())
    return LoadPlan(TableRef("numbers", "main"), (column,), "overwrite", load_id=load_id)


def _text_batch(values: list[str]) -> pa.RecordBatch:
    return pa.record_batch([pa.array(values, pa.string())], ["n"])


def test_a_value_rejected_mid_stream_fails_the_load_and_leaves_the_target(tmp_path: Path) -> None:
    path = tmp_path / "dst.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE numbers AS SELECT 7::BIGINT AS n")
    # Another connection of this process shares the database instance and its global settings.
    bystander = connect(str(path), must_exist=True)
    bystander.execute("SET GLOBAL threads = 3")
    settings = "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
    assert bystander.execute(settings).fetchone() == (3, True)
    plan = _numbers_overwrite("reject-test")
    target = DuckDBTarget({"path": str(path)})
    loader = target.begin(plan)
    with pytest.raises(ValueRejected, match=r"numbers.*value rejected.*'x'"):
        for start in range(0, 200, 10):  # text cast to BIGINT by the INSERT; batch 6 is bad
            values = [str(n) for n in range(start, start + 10)]
            if start == 50:
                values[3] = "x"
            loader.write(_text_batch(values))
        loader.commit(None)
    target.close()
    assert bystander.execute(settings).fetchone() == (3, True)  # the staging values are gone
    bystander.close()
    assert _stages(path) == []
    with duckdb.connect(str(path)) as conn:
        assert conn.execute("SELECT n FROM numbers").fetchall() == [(7,)]


def test_cancel_reaches_the_running_insert(tmp_path: Path) -> None:
    path = tmp_path / "dst.duckdb"
    plan = _numbers_overwrite("cancel-test")
    target = DuckDBTarget({"path": str(path)})
    loader = target.begin(plan)
    batch = pa.record_batch([pa.array(range(10_000), pa.int64())], ["n"])
    loader.write(batch)
    cancelling = threading.Thread(target=target.cancel)
    cancelling.start()
    cancelling.join()
    with pytest.raises(Cancelled, match="interrupted"):
        for _ in range(50):  # DuckDB sees the interrupt when it takes the next batch
            loader.write(batch)
        loader.commit(None)
    target.close()
    assert _stages(path) == []
    with duckdb.connect(str(path)) as conn:
        found = conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'numbers'"
        ).fetchone()
    assert found == (0,)


def test_merge_keeps_the_last_row_of_a_key_across_many_streamed_batches(tmp_path: Path) -> None:
    """Source rows (id, version) in order: every id comes twice, the later row in a later
    batch. The merge must keep each id's later version."""
    src, dst = tmp_path / "src.duckdb", tmp_path / "dst.duckdb"
    ids = 60_000
    with duckdb.connect(str(src)) as conn:
        conn.execute(
            "CREATE TABLE events AS SELECT range % ? AS id, range AS version FROM range(?) "
            "ORDER BY range",
            [ids, 2 * ids],
        )
    # many small batches, so each key's two rows are far apart
    assert _merge(src, dst, batch_bytes=64 * 1024) == 2 * ids
    with duckdb.connect(str(dst)) as conn:
        row = conn.execute(
            "SELECT count(*), min(version - id), max(version - id) FROM events"
        ).fetchone()
    assert row == (ids, ids, ids)  # every id kept the row of the second pass
    assert _stages(dst) == []
