"""The engine's side of a table split across workers, on the real PostgreSQL: ranges (keys
and ``ctid`` pages), part loads into their own tables, one publish per load method."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from headwater.connectors.errors import JobFailed
from headwater.connectors.registry import default_registry
from headwater.engine import TableJob, run_table_job
from headwater.engine.parts import (
    PartDone,
    drop_part_tables,
    part_job,
    plan_ranges,
    publish_parts,
    refusal,
    staging_name,
)
from tests._services import require_service
from tests.connectors.dbkit import (
    mysql_database,
    mysql_exec,
    pg_checksum,
    pg_database,
    pg_exec,
    pg_rows,
)

pytestmark = pytest.mark.postgres

ROWS = 2000


@pytest.fixture(scope="module")
def src() -> Iterator[dict[str, Any]]:
    with pg_database("parts_src") as props:
        for table, key in (("keyed", " PRIMARY KEY"), ("heap", "")):
            pg_exec(
                props,
                f"CREATE TABLE {table} (id bigint{key}, name text, "
                "updated_at timestamptz NOT NULL)",
                f"INSERT INTO {table} SELECT g, 'row ' || g, "
                f"timestamptz '2024-01-01' + g * interval '1 second' "
                f"FROM generate_series(1, {ROWS}) g",
            )
        yield props


@pytest.fixture()
def dst() -> Iterator[dict[str, Any]]:
    with pg_database("parts_dst") as props:
        yield props


def _copy_in_parts(job: TableJob, parts: int = 4) -> tuple[list[Any], Any]:
    """What the runner does across workers, here in one process: each range into its table."""
    registry = default_registry()
    ranges = plan_ranges(job, registry)
    done = []
    for number, key_range in enumerate(ranges, start=1):
        staging = staging_name(job.load_id, number, 1)
        result = run_table_job(part_job(job, key_range, staging, None), registry=registry)
        done.append(
            PartDone(staging, result.rows, result.bytes, result.cursor_value, result.cursor_type)
        )
    return ranges, publish_parts(job, done, registry=registry)


def _stray_tables(props: dict[str, Any]) -> list[Any]:
    return pg_rows(
        props, "SELECT relname FROM pg_class WHERE relname LIKE '\\_hw\\_%' AND relkind = 'r'"
    )


def test_key_ranges_publish_an_exact_overwrite(src: dict[str, Any], dst: dict[str, Any]) -> None:
    job = TableJob("postgres", src, "postgres", dst, source_table="keyed", parallel_partitions=4)
    assert refusal(job, default_registry()) is None
    ranges, result = _copy_in_parts(job)
    assert [(r.column, r.lower, r.upper) for r in ranges] == [
        ("id", None, 501),
        ("id", 501, 1001),
        ("id", 1001, 1501),
        ("id", 1501, None),
    ]
    assert result.rows == ROWS and result.partitions == 4
    assert pg_checksum(dst, "keyed") == pg_checksum(src, "keyed")
    assert _stray_tables(dst) == []


def test_a_table_without_a_key_splits_by_ctid_pages(
    src: dict[str, Any], dst: dict[str, Any]
) -> None:
    job = TableJob("postgres", src, "postgres", dst, source_table="heap", parallel_partitions=3)
    ranges, result = _copy_in_parts(job)
    assert len(ranges) == 3 and {r.column for r in ranges} == {"ctid"}
    assert ranges[0].upper.startswith("(") and ranges[-1].upper is None
    assert result.rows == ROWS
    assert pg_checksum(dst, "heap") == pg_checksum(src, "heap")


def test_append_and_merge_publish_once_and_incremental_keeps_the_latest_cursor(
    src: dict[str, Any], dst: dict[str, Any]
) -> None:
    base = TableJob(
        "postgres",
        src,
        "postgres",
        dst,
        source_table="keyed",
        parallel_partitions=4,
        extract_method="incremental",
        cursor_column="updated_at",
        cursor_type="timestamp",
        load_method="append",
        add_metadata_columns=True,
    )
    _, first = _copy_in_parts(base)
    assert first.rows == ROWS and first.cursor_value is not None
    assert first.cursor_value.startswith("2024-01-01T00:33:20")  # id 2000's timestamp
    # nothing new: every part reads past the committed cursor and the publish adds nothing
    _, again = _copy_in_parts(replace(base, load_id="second"))
    assert again.rows == 0
    assert pg_rows(dst, "SELECT count(*) FROM keyed") == [(ROWS,)]
    pg_exec(src, "UPDATE keyed SET name = 'changed', updated_at = now() WHERE id IN (7, 1999)")
    merge = replace(base, load_method="merge", merge_keys=("id",), load_id="third")
    _, merged = _copy_in_parts(merge)
    assert merged.rows == 2
    assert pg_rows(dst, "SELECT count(*), count(DISTINCT id) FROM keyed") == [(ROWS, ROWS)]
    assert pg_rows(dst, "SELECT id FROM keyed WHERE name = 'changed' ORDER BY id") == [
        (7,),
        (1999,),
    ]
    assert _stray_tables(dst) == []
    pg_exec(src, "UPDATE keyed SET name = 'row ' || id WHERE id IN (7, 1999)")


def test_dropped_parts_leave_the_target_as_it_was(src: dict[str, Any], dst: dict[str, Any]) -> None:
    job = TableJob("postgres", src, "postgres", dst, source_table="keyed", parallel_partitions=2)
    registry = default_registry()
    ranges = plan_ranges(job, registry)
    staging = staging_name(job.load_id, 1, 1)
    run_table_job(part_job(job, ranges[0], staging, None), registry=registry)
    assert _stray_tables(dst) == [(staging,)]
    drop_part_tables(job, [staging], registry)
    assert _stray_tables(dst) == []
    assert pg_rows(dst, "SELECT to_regclass('public.keyed')") == [(None,)]


def test_targets_that_cannot_publish_parts_are_refused() -> None:
    job = TableJob("postgres", {}, "duckdb", {}, source_table="t", parallel_partitions=4)
    assert "cannot publish parts" in str(refusal(job, default_registry()))
    query = TableJob("postgres", {}, "postgres", {}, source_query="select 1", target_table="x")
    assert "parallel_partitions" in str(refusal(query, default_registry()))


def test_a_part_table_that_lost_rows_fails_the_publish(
    src: dict[str, Any], dst: dict[str, Any]
) -> None:
    job = TableJob("postgres", src, "postgres", dst, source_table="keyed", parallel_partitions=2)
    registry = default_registry()
    done = []
    for number, key_range in enumerate(plan_ranges(job, registry), start=1):
        staging = staging_name(job.load_id, number, 1)
        result = run_table_job(part_job(job, key_range, staging, None), registry=registry)
        done.append(PartDone(staging, result.rows, result.bytes))
    pg_exec(dst, f"DELETE FROM {done[1].staging} WHERE id = {ROWS}")
    with pytest.raises(JobFailed, match=f"holds {ROWS // 2 - 1} rows, its part committed"):
        publish_parts(job, done, registry=registry)
    assert pg_rows(dst, "SELECT to_regclass('public.keyed')") == [(None,)]


def test_a_mysql_source_splits_by_key_into_a_postgres_target(dst: dict[str, Any]) -> None:
    require_service("mysql")
    with mysql_database("parts_my") as props:
        mysql_exec(
            props,
            "CREATE TABLE orders (id int PRIMARY KEY, note varchar(20))",
            "INSERT INTO orders SELECT seq, CONCAT('n', seq) FROM seq_1_to_900",
        )
        job = TableJob(
            "mysql", props, "postgres", dst, source_table="orders", parallel_partitions=3
        )
        ranges, result = _copy_in_parts(job)
    assert [(r.lower, r.upper) for r in ranges] == [(None, 301), (301, 601), (601, None)]
    assert result.rows == 900
    assert pg_rows(dst, "SELECT count(DISTINCT id), min(id), max(id) FROM orders") == [
        (900, 1, 900)
    ]
