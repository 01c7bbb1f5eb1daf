"""Incremental extraction: exact cursors, committed with the data, no loss and no duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from headwater.connectors.errors import JobFailed
from headwater.engine import TableJob, run_table_job

from .faulty import faulty_registry

try:
    from tests.connectors.dbkit import pg_checksum, pg_database, pg_exec, pg_rows
except ImportError:
    from connectors.dbkit import pg_checksum, pg_database, pg_exec, pg_rows  # type: ignore

pytestmark = pytest.mark.postgres

TARGETS = ["faulty_pg", "faulty_pg_arrow"]


@pytest.fixture(scope="module")
def src() -> Iterator[dict[str, Any]]:
    with pg_database("inc_src") as props:
        yield props


@pytest.fixture(scope="module")
def dst() -> Iterator[dict[str, Any]]:
    with pg_database("inc_dst") as props:
        yield props


@pytest.fixture(scope="module")
def registry() -> Any:
    return faulty_registry()


def add_rows(props: dict[str, Any], table: str, first: int, last: int) -> None:
    """Rows whose timestamps are one microsecond apart, three rows per timestamp."""
    pg_exec(
        props,
        f"INSERT INTO {table} SELECT g, timestamptz '2024-03-01 12:00:00.5+02' "
        f"+ (g / 3) * interval '1 microsecond', 'v' || g, date '2024-01-01' + g / 100 "
        f"FROM generate_series({first}, {last}) g",
    )


def make_source(props: dict[str, Any], table: str) -> None:
    pg_exec(
        props,
        f"DROP TABLE IF EXISTS {table}",
        f"CREATE TABLE {table} (id bigint, ts timestamptz NOT NULL, val text, day date)",
    )


def inc_job(src: dict[str, Any], dst: dict[str, Any], table: str, target: str, **kw: Any) -> Any:
    target_props = dict(dst)
    if "fail_at" in kw:
        target_props["fail_at"] = kw.pop("fail_at")
    kw.setdefault("cursor_column", "ts")
    kw.setdefault("cursor_type", "timestamp")
    kw.setdefault("load_method", "append")
    return TableJob(
        "postgres",
        src,
        target,
        target_props,
        source_table=table,
        target_table=table,
        extract_method="incremental",
        batch_bytes=16 * 1024,
        **kw,
    )


def state(dst: dict[str, Any], key: str) -> list[tuple[Any, ...]]:
    return pg_rows(
        dst, f"SELECT cursor_value, cursor_type FROM _headwater_state WHERE state_key = '{key}'"
    )


@pytest.mark.parametrize("target", TARGETS)
def test_reruns_after_failures_at_every_point_neither_lose_nor_duplicate(
    src, dst, registry, target
):
    table = f"inc_{target}"
    make_source(src, table)
    pg_exec(dst, f"DROP TABLE IF EXISTS {table}")
    add_rows(src, table, 1, 1000)
    first = run_table_job(inc_job(src, dst, table, target), registry=registry)
    assert first.rows == 1000
    assert first.cursor_type == "timestamptz"
    # 1000 // 3 = 333 microseconds after the start, which is 10:00:00.5 UTC
    assert first.cursor_value == "2024-03-01T10:00:00.500333+00:00"
    assert state(dst, f"public.{table}") == [(first.cursor_value, "timestamptz")]

    next_id = 1001
    for fail_at in ("write:1", "before_publish", "after_publish", "after_state"):
        add_rows(src, table, next_id, next_id + 499)
        next_id += 500
        before = pg_checksum(dst, table)
        before_state = state(dst, f"public.{table}")
        with pytest.raises(JobFailed, match="injected"):
            run_table_job(inc_job(src, dst, table, target, fail_at=fail_at), registry=registry)
        assert pg_checksum(dst, table) == before, fail_at
        assert state(dst, f"public.{table}") == before_state, fail_at

    final = run_table_job(inc_job(src, dst, table, target), registry=registry)
    assert final.rows == 2000
    assert pg_rows(dst, f"SELECT count(*), count(DISTINCT id) FROM {table}") == [(3000, 3000)]
    assert pg_checksum(dst, table) == pg_checksum(src, table)
    nothing_new = run_table_job(inc_job(src, dst, table, target), registry=registry)
    assert nothing_new.rows == 0
    assert nothing_new.cursor_value == final.cursor_value


def test_start_value_and_microsecond_boundaries(src, dst, registry):
    table = "inc_start"
    make_source(src, table)
    pg_exec(
        src,
        f"INSERT INTO {table} VALUES (1, '2024-05-01 00:00:00.000001+00', 'a', NULL), "
        f"(2, '2024-05-01 00:00:00.000002+00', 'b', NULL), "
        f"(3, '2024-05-01 00:00:00.000003+00', 'c', NULL)",
    )
    result = run_table_job(
        inc_job(src, dst, table, "postgres", start_value="2024-05-01T00:00:00.000001Z"),
        registry=registry,
    )
    assert result.rows == 2  # strictly after the start value
    assert result.cursor_value == "2024-05-01T00:00:00.000003+00:00"
    pg_exec(src, f"INSERT INTO {table} VALUES (4, '2024-05-01 00:00:00.000004+00', 'd', NULL)")
    again = run_table_job(inc_job(src, dst, table, "postgres"), registry=registry)
    assert again.rows == 1
    assert pg_rows(dst, f"SELECT array_agg(id ORDER BY id) FROM {table}") == [([2, 3, 4],)]


def test_merge_rereads_the_boundary_and_catches_late_rows(src, dst, registry):
    table = "inc_merge"
    make_source(src, table)
    add_rows(src, table, 1, 30)
    job = inc_job(src, dst, table, "postgres", load_method="merge", merge_keys=("id",))
    run_table_job(job, registry=registry)
    # a late row with exactly the stored max timestamp: '>' would miss it, merge uses '>='
    pg_exec(src, f"INSERT INTO {table} SELECT 31, max(ts), 'late', NULL FROM {table}")
    run_table_job(job, registry=registry)
    assert pg_checksum(dst, table) == pg_checksum(src, table)
    assert pg_rows(dst, f"SELECT count(*) FROM {table}") == [(31,)]


@pytest.mark.parametrize(
    ("column", "cursor_type", "kind", "expected"),
    [("day", "date", "date", "2024-01-11"), ("id", "number", "integer", "1000")],
)
def test_date_and_number_cursors(src, dst, registry, column, cursor_type, kind, expected):
    table = f"inc_{column}"
    make_source(src, table)
    add_rows(src, table, 1, 1000)
    job = inc_job(src, dst, table, "faulty_pg_arrow", cursor_column=column, cursor_type=cursor_type)
    result = run_table_job(job, registry=registry)
    assert (result.cursor_value, result.cursor_type) == (expected, kind)
    add_rows(src, table, 1001, 1200)
    run_table_job(job, registry=registry)
    assert pg_checksum(dst, table) == pg_checksum(src, table)
