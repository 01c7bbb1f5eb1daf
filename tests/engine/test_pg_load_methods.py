"""Load methods PostgreSQL -> PostgreSQL on the real server, with failures injected mid-load."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from headwater.connectors.errors import Cancelled, JobFailed
from headwater.engine import TableJob, run_table_job

try:
    from tests.connectors.dbkit import pg_checksum, pg_database, pg_exec, pg_rows
except ImportError:
    from connectors.dbkit import pg_checksum, pg_database, pg_exec, pg_rows  # type: ignore
from .faulty import faulty_registry

pytestmark = pytest.mark.postgres

ROWS = 3000
TARGETS = ["faulty_pg", "faulty_pg_arrow"]  # native binary COPY path and Arrow path


@pytest.fixture(scope="module")
def src() -> Iterator[dict[str, Any]]:
    with pg_database("lm_src") as props:
        pg_exec(
            props,
            "CREATE TABLE items (id bigint PRIMARY KEY, name text, amount numeric(12,2), "
            "payload jsonb, updated_at timestamptz NOT NULL)",
            f"INSERT INTO items SELECT g, 'item ' || g, g * 1.25, "
            f"jsonb_build_object('g', g), timestamptz '2024-01-01' + g * interval '1 second' "
            f"FROM generate_series(1, {ROWS}) g",
        )
        yield props


@pytest.fixture(scope="module")
def dst() -> Iterator[dict[str, Any]]:
    with pg_database("lm_dst") as props:
        yield props


@pytest.fixture(scope="module")
def registry() -> Any:
    return faulty_registry()


def job(src: dict[str, Any], dst: dict[str, Any], target: str = "faulty_pg", **kw: Any) -> TableJob:
    target_props = dict(dst)
    for key in ("fail_at", "delay"):
        if key in kw:
            target_props[key] = kw.pop(key)
    kw.setdefault("source_table", "items")
    kw.setdefault("batch_bytes", 32 * 1024)
    return TableJob("postgres", src, target, target_props, **kw)


def stage_tables(props: dict[str, Any]) -> list[tuple[Any, ...]]:
    return pg_rows(props, "SELECT tablename FROM pg_tables WHERE tablename LIKE '\\_hw\\_stage%'")


@pytest.mark.parametrize("target", TARGETS)
def test_overwrite_copies_exactly_and_reruns_idempotently(src, dst, registry, target):
    name = f"ow_{target}"
    first = run_table_job(job(src, dst, target, target_table=name), registry=registry)
    assert first.rows == ROWS
    assert first.native is (target == "faulty_pg")
    assert pg_checksum(dst, name) == pg_checksum(src, "items")
    again = run_table_job(job(src, dst, target, target_table=name), registry=registry)
    assert again.rows == ROWS
    assert pg_checksum(dst, name) == pg_checksum(src, "items")
    # numeric stays numeric, jsonb stays jsonb
    types = dict(
        pg_rows(
            dst,
            f"SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_name = '{name}'",
        )
    )
    assert types["amount"] == "numeric" and types["payload"] == "jsonb"
    assert types["updated_at"] == "timestamp with time zone"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fail_at", ["write:2", "before_publish", "after_publish"])
def test_failed_overwrite_leaves_old_table_untouched(src, dst, registry, target, fail_at):
    name = f"owf_{target}"
    pg_exec(
        dst,
        f"DROP TABLE IF EXISTS {name}",
        f"CREATE TABLE {name} (id bigint, name text)",
        f"INSERT INTO {name} VALUES (1, 'old'), (2, 'older')",
    )
    before = pg_checksum(dst, name)
    with pytest.raises(JobFailed, match="injected failure") as info:
        run_table_job(job(src, dst, target, target_table=name, fail_at=fail_at), registry=registry)
    assert name in str(info.value)
    assert pg_checksum(dst, name) == before
    assert stage_tables(dst) == []


@pytest.mark.parametrize("target", TARGETS)
def test_append_adds_rows_and_failure_adds_none(src, dst, registry, target):
    name = f"ap_{target}"
    pg_exec(dst, f"DROP TABLE IF EXISTS {name}")
    run_table_job(job(src, dst, target, target_table=name, load_method="append"), registry=registry)
    run_table_job(job(src, dst, target, target_table=name, load_method="append"), registry=registry)
    assert pg_rows(dst, f"SELECT count(*), count(DISTINCT id) FROM {name}") == [(2 * ROWS, ROWS)]
    before = pg_checksum(dst, name)
    for fail_at in ("write:2", "after_publish"):
        with pytest.raises(JobFailed):
            run_table_job(
                job(src, dst, target, target_table=name, load_method="append", fail_at=fail_at),
                registry=registry,
            )
    assert pg_checksum(dst, name) == before


@pytest.mark.parametrize("target", TARGETS)
def test_merge_upserts_by_key_and_failure_changes_nothing(src, dst, registry, target):
    name = f"mg_{target}"
    pg_exec(dst, f"DROP TABLE IF EXISTS {name}")
    pg_exec(
        src,
        "CREATE TABLE IF NOT EXISTS mg_src AS SELECT * FROM items",
        "TRUNCATE mg_src",
        "INSERT INTO mg_src SELECT * FROM items",
    )
    merge = dict(source_table="mg_src", target_table=name, load_method="merge", merge_keys=("id",))
    run_table_job(job(src, dst, target, **merge), registry=registry)
    pg_exec(
        src,
        "UPDATE mg_src SET name = 'changed', amount = -1 WHERE id % 10 = 0",
        "INSERT INTO mg_src VALUES (900001, 'new', 1.5, '{}', now())",
    )
    with pytest.raises(JobFailed):
        run_table_job(job(src, dst, target, fail_at="write:1", **merge), registry=registry)
    assert pg_rows(dst, f"SELECT count(*) FROM {name} WHERE name = 'changed'") == [(0,)]
    run_table_job(job(src, dst, target, **merge), registry=registry)
    assert pg_checksum(dst, name) == pg_checksum(src, "mg_src")
    assert pg_rows(dst, f"SELECT count(*) FROM {name}") == [(ROWS + 1,)]


def test_merge_without_keys_is_refused_with_a_clear_message(src, dst, registry):
    with pytest.raises(JobFailed, match="merge key"):
        run_table_job(job(src, dst, target_table="nokeys", load_method="merge"), registry=registry)


def test_readers_never_see_an_empty_or_partial_table_during_overwrite(src, dst, registry):
    name = "ow_visible"
    run_table_job(job(src, dst, target_table=name), registry=registry)
    seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.add(pg_rows(dst, f"SELECT count(*) FROM {name}")[0][0])
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_table_job(
            job(src, dst, "faulty_pg_arrow", target_table=name, delay="0.05"), registry=registry
        )
    finally:
        stop.set()
        watcher.join()
    assert seen == {ROWS}


def test_cancel_lands_in_seconds_and_commits_nothing(src, dst, registry):
    name = "cancelled"
    pg_exec(dst, f"DROP TABLE IF EXISTS {name}")
    cancel = threading.Event()
    slow = TableJob(
        "postgres",
        src,
        "postgres",
        dst,
        target_table=name,
        source_query="SELECT id, pg_sleep(0.01) IS NULL AS slept FROM items",
    )
    timer = threading.Timer(1.0, cancel.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match=name):
        run_table_job(slow, cancel=cancel)
    assert time.monotonic() - started < 10
    assert pg_rows(dst, f"SELECT to_regclass('{name}')") == [(None,)]
    active = pg_rows(
        src,
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep%' "
        "AND state = 'active' AND pid <> pg_backend_pid()",
    )
    assert active == [(0,)]


def test_metadata_columns_and_prefix_naming(src, dst, registry):
    result = run_table_job(
        job(
            src,
            dst,
            target_schema="landing",
            target_prefix="raw_",
            add_metadata_columns=True,
            load_id="load-42",
        ),
        registry=registry,
    )
    assert result.target == "landing.raw_items"
    assert pg_rows(
        dst,
        "SELECT count(*), min(_hw_load_id), max(_hw_load_id), "
        "count(DISTINCT _hw_loaded_at) FROM landing.raw_items",
    ) == [(ROWS, "load-42", "load-42", 1)]


def test_parallel_key_ranges_copy_everything_once(src, dst, registry):
    for target in TARGETS:
        result = run_table_job(
            job(src, dst, target, target_table=f"par_{target}", parallel_partitions=4),
            registry=registry,
        )
        assert result.partitions == 4
        assert pg_checksum(dst, f"par_{target}") == pg_checksum(src, "items")


def test_custom_query_source(src, dst, registry):
    result = run_table_job(
        TableJob(
            "postgres",
            src,
            "postgres",
            dst,
            target_table="q_items",
            source_query="SELECT id, amount * 2 AS doubled FROM items WHERE id <= 10;",
        ),
        registry=registry,
    )
    assert result.rows == 10
    assert pg_rows(dst, "SELECT sum(doubled)::text FROM q_items") == [("137.50",)]


def test_source_read_failure_leaves_target_unchanged(src, dst, registry):
    name = "read_fail"
    run_table_job(job(src, dst, target_table=name), registry=registry)
    before = pg_checksum(dst, name)
    failing = TableJob(
        "faulty_pg",
        dict(src, fail_at="read:2"),
        "postgres",
        dst,
        source_table="items",
        target_table=name,
        batch_bytes=32 * 1024,
    )
    with pytest.raises(JobFailed, match="injected read failure"):
        run_table_job(failing, registry=registry)
    assert pg_checksum(dst, name) == before
