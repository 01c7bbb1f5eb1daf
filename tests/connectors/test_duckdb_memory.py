"""The DuckDB target's memory limits: small while staging, escalated when a publish needs more.

A merge ranks and joins the whole staging table inside the publish transaction; under a tiny
``memory_limit`` DuckDB reports "Out of Memory". The target must then retry under the next
limit (and say so in the log), and when even the last limit is too small, fail with DuckDB's
message while leaving the target exactly as it was.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from headwater.connectors.base import DEFAULT_BATCH_BYTES, Column, LoadPlan, TableRef
from headwater.connectors.duckdb import target as duckdb_target
from headwater.connectors.duckdb.target import DuckDBTarget
from headwater.connectors.errors import JobFailed
from headwater.engine import TableJob, run_table_job

ROWS = 120_000


def _source(path: Path, bump: int) -> None:
    with duckdb.connect(str(path)) as conn:
        conn.execute("DROP TABLE IF EXISTS events")
        conn.execute(
            "CREATE TABLE events AS SELECT range AS id, range + ? AS amount, "
            "'name ' || range AS name FROM range(?)",
            [bump, ROWS],
        )


def _merge(src: Path, dst: Path, batch_bytes: int = DEFAULT_BATCH_BYTES) -> int:
    """Merge ``events`` of ``src`` into ``events`` of ``dst`` by ``id``; the rows copied."""
    job = TableJob(
        "duckdb",
        {"path": str(src)},
        "duckdb",
        {"path": str(dst)},
        source_table="events",
        target_table="events",
        load_method="merge",
        merge_keys=("id",),
        batch_bytes=batch_bytes,
    )
    return run_table_job(job).rows


def _target_sum(dst: Path) -> tuple[int, int]:
    with duckdb.connect(str(dst)) as conn:
        row = conn.execute("SELECT count(*), sum(amount) FROM events").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_staging_limit_grows_with_the_column_count() -> None:
    assert duckdb_target.staging_memory_limit(10) == "37MB"
    assert duckdb_target.staging_memory_limit(320) == "192MB"


def test_publish_out_of_memory_retries_under_a_larger_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    src, dst = tmp_path / "src.duckdb", tmp_path / "dst.duckdb"
    _source(src, 0)
    assert _merge(src, dst) == ROWS
    _source(src, 1)
    monkeypatch.setattr(duckdb_target, "PUBLISH_MEMORY_LIMITS", ("1MB", "512MB"))
    with caplog.at_level(logging.WARNING, logger=duckdb_target.__name__):
        assert _merge(src, dst) == ROWS
    assert any("ran out of memory under memory_limit 1MB" in r.message for r in caplog.records)
    expected_sum = sum(range(ROWS)) + ROWS  # every amount bumped by one, no row twice
    assert _target_sum(dst) == (ROWS, expected_sum)


def test_publish_out_of_memory_under_every_limit_leaves_the_target_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = tmp_path / "src.duckdb", tmp_path / "dst.duckdb"
    _source(src, 0)
    _merge(src, dst)
    before = _target_sum(dst)
    _source(src, 5)
    monkeypatch.setattr(duckdb_target, "PUBLISH_MEMORY_LIMITS", ("1MB", "2MB"))
    with pytest.raises(JobFailed, match=r"events.*Out of Memory"):
        _merge(src, dst)
    assert _target_sum(dst) == before
    assert _stages(dst) == []


def test_a_load_drops_staging_tables_left_by_a_killed_process(tmp_path: Path) -> None:
    """A child process stages rows, then dies by SIGKILL before publishing: its committed
    staging table stays in the file until the next load, which drops it."""
    src, dst = tmp_path / "src.duckdb", tmp_path / "dst.duckdb"
    _source(src, 0)
    _merge(src, dst)
    script = (
        "import os, signal, duckdb\n"
        "from headwater.connectors.duckdb import target as t\n"
        "real = t.DuckDBLoader.commit\n"
        "def die(self, state):\n"
        "    self._finish_stream()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "t.DuckDBLoader.commit = die\n"
        "from headwater.engine import TableJob, run_table_job\n"
        f"run_table_job(TableJob('duckdb', {{'path': {str(src)!r}}}, 'duckdb', "
        f"{{'path': {str(dst)!r}}}, source_table='events', target_table='events', "
        "load_method='append'))\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert len(_stages(dst)) == 1  # the orphan, with every staged row committed
    assert _target_sum(dst)[0] == ROWS  # the append never reached the target

    _source(src, 1)
    assert _merge(src, dst) == ROWS
    assert _stages(dst) == []
    assert _target_sum(dst) == (ROWS, sum(range(ROWS)) + ROWS)


def _stages(dst: Path) -> list[str]:
    with duckdb.connect(str(dst)) as conn:
        rows = conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE starts_with(table_name, '_hw_stage_')"
        ).fetchall()
    return [name for (name,) in rows]


def test_batches_stream_into_one_insert_and_a_new_schema_starts_another(tmp_path: Path) -> None:
    """Batches of one Arrow schema go into one running INSERT; a batch whose types differ
    (int32 after int64) ends that stream (committed to staging) and starts its own."""
    dst = str(tmp_path / "dst.duckdb")
    column = Column("n", "BIGINT", pa.int64())
    plan = LoadPlan(TableRef("gathered", "main"), (column,), "overwrite", load_id="gather-test")
    target = DuckDBTarget({"path": dst})
    loader = target.begin(plan)
    try:
        for start in range(0, 1000, 100):
            loader.write(pa.record_batch([pa.array(range(start, start + 100), pa.int64())], ["n"]))
        first = loader._stream
        assert first is not None and first.rows == 1000  # ten batches, one statement
        loader.write(pa.record_batch([pa.array([5000, 5001], pa.int32())], ["n"]))
        assert loader._stream is not first and loader._stream is not None
        assert loader._stream.rows == 2
        assert loader.commit(None) == 1002
    finally:
        target.close()
    with duckdb.connect(dst) as conn:
        assert conn.execute("SELECT count(*), sum(n) FROM gathered").fetchone() == (
            1002,
            sum(range(1000)) + 10001,
        )


@pytest.mark.parametrize(
    ("method", "staging"),
    [("overwrite", (2, "false")), ("append", (2, "false")), ("merge", (1, "true"))],
)
def test_staging_threads_and_order_by_method_and_the_publish_gets_the_databases_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, staging: tuple[int, str]
) -> None:
    """An overwrite or append stages on two threads without keeping the source's order; a
    merge (whose last staged row per key wins) on one thread in order. The publish gets the
    database's own settings back (a merge's join and window use every thread)."""
    settings_sql = (
        "SELECT current_setting('threads'), current_setting('preserve_insertion_order')::VARCHAR"
    )
    seen: list[tuple[int, str]] = []
    real_publish = duckdb_target.DuckDBLoader._publish_transaction

    def spying_publish(self: duckdb_target.DuckDBLoader, state: object) -> None:
        row = self.conn.execute(settings_sql).fetchone()
        assert row is not None
        seen.append((int(row[0]), str(row[1])))
        real_publish(self, state)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb_target.DuckDBLoader, "_publish_transaction", spying_publish)
    column = Column("n", "BIGINT", pa.int64())
    plan = LoadPlan(
        TableRef("threads", "main"),
        (column,),
        method,  # type: ignore[arg-type]
        merge_keys=("n",) if method == "merge" else (),
        load_id="threads-test",
    )
    target = DuckDBTarget({"path": str(tmp_path / "threads.duckdb")})
    loader = target.begin(plan)
    try:
        row = loader.conn.execute(settings_sql).fetchone()
        assert row is not None and (int(row[0]), str(row[1])) == staging
        loader.write(pa.record_batch([pa.array(range(10), pa.int64())], ["n"]))
        assert loader.commit(None) == 10
    finally:
        target.close()
    with duckdb.connect(":memory:") as fresh:
        default = fresh.execute(settings_sql).fetchone()
    assert default is not None and seen == [(int(default[0]), str(default[1]))]
