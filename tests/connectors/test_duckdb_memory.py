"""The DuckDB target's memory limits: small while staging, escalated when a publish needs more.

A merge ranks and joins the whole staging table inside the publish transaction; under a tiny
``memory_limit`` DuckDB reports "Out of Memory". The target must then retry under the next
limit (and say so in the log), and when even the last limit is too small, fail with DuckDB's
message while leaving the target exactly as it was.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from headwater.connectors.duckdb import target as duckdb_target
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


def _merge(src: Path, dst: Path) -> int:
    job = TableJob(
        "duckdb",
        {"path": str(src)},
        "duckdb",
        {"path": str(dst)},
        source_table="events",
        target_table="events",
        load_method="merge",
        merge_keys=("id",),
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
    with duckdb.connect(str(dst)) as conn:
        leftovers = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_hw_stage%'"
        ).fetchall()
    assert leftovers == []
