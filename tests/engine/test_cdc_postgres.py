"""Change capture from a private PostgreSQL cluster (wal_level=logical) into merge targets.

Every test compares the target with the source row by row (a checksum of the ordered rows)
after a mix of inserts, updates, deletes, key updates, rolled back and large transactions
and a column added mid-stream.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from headwater.connectors.errors import JobFailed
from headwater.engine.jobs import CdcOptions, TableJob
from headwater.engine.pipeline import run_table_job
from tests.cdc_servers import PgCluster

pytestmark = pytest.mark.postgres


@pytest.fixture
def cluster(cdc_pg: PgCluster) -> PgCluster:
    return cdc_pg


_COUNTER = iter(range(1_000_000))  # names unique in the session's cluster


@pytest.fixture
def names() -> tuple[str, str]:
    """A fresh source table and river name per test (the cluster is shared)."""
    n = next(_COUNTER)
    return f"pg_items_{n}", f"pg_river_{n}"


def sql(cluster: PgCluster, statement: str, params: Any = None, database: str = "postgres") -> Any:
    url = cluster.url.rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else None


def job(cluster: PgCluster, table: str, river: str, **changes: Any) -> TableJob:
    cdc = changes.pop("cdc", CdcOptions(name=river))
    base = TableJob(
        source_connector="postgres",
        source_props=cluster.props,
        target_connector="postgres",
        target_props={**cluster.props, "database": "target"},
        source_table=table,
        source_schema="public",
        extract_method="cdc",
        load_method="merge",
        state_key=f"{river}:{table}",
        cdc=cdc,
    )
    return replace(base, **changes)


def checksum(cluster: PgCluster, table: str, database: str, columns: str) -> tuple[int, str]:
    rows = sql(cluster, f"SELECT {columns} FROM {table} ORDER BY id", database=database)
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def make_table(cluster: PgCluster, table: str) -> None:
    sql(
        cluster,
        f"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, amount numeric(12,2), "
        "tags text[], doc jsonb, seen timestamptz, blob bytea)",
    )
    sql(
        cluster,
        f"INSERT INTO {table} SELECT g, 'n' || g, g * 1.5, ARRAY['a', 'b' || g], "
        "jsonb_build_object('k', g), now(), '\\x0102' FROM generate_series(1, 500) g",
    )


COLUMNS = "id, name, amount, tags, doc, seen, blob"


def mixed_changes(cluster: PgCluster, table: str) -> None:
    url = cluster.url
    with psycopg.connect(url) as conn:
        conn.execute(f"UPDATE {table} SET name = 'changed' WHERE id % 7 = 0")
        conn.execute(f"DELETE FROM {table} WHERE id % 11 = 0")
        conn.execute(
            f"INSERT INTO {table} (id, name) VALUES (11, 'reborn')"
        )  # deleted, re-inserted
        conn.execute(f"UPDATE {table} SET id = 10000 WHERE id = 3")  # a key update
        conn.commit()
        conn.execute(f"DELETE FROM {table} WHERE id < 100")
        conn.rollback()  # a rolled back transaction
        conn.execute(
            f"INSERT INTO {table} (id, name, amount) SELECT g, 'big', g FROM "
            "generate_series(20000, 32000) g"
        )  # a large transaction
        conn.execute(f"UPDATE {table} SET amount = amount + 1 WHERE id BETWEEN 20000 AND 20100")
        conn.commit()
        conn.execute(f"INSERT INTO {table} (id, name) VALUES (5000, 'x')")
        conn.execute(f"UPDATE {table} SET name = 'y' WHERE id = 5000")
        conn.execute(f"DELETE FROM {table} WHERE id = 5000")  # born and gone in one batch
        conn.execute(f"TRUNCATE {table}") if False else None
        conn.commit()


def test_snapshot_then_changes_end_equal(cluster: PgCluster, names: tuple[str, str]) -> None:
    table, river = names
    make_table(cluster, table)
    first = run_table_job(job(cluster, table, river))
    assert first.details["cdc_snapshot_rows"] == 500
    assert checksum(cluster, table, "postgres", COLUMNS) == checksum(
        cluster, table, "target", COLUMNS
    )
    mixed_changes(cluster, table)
    sql(cluster, f"ALTER TABLE {table} ADD COLUMN extra integer")  # a new column mid-stream
    sql(cluster, f"UPDATE {table} SET extra = id WHERE id % 5 = 0")
    sql(cluster, f"INSERT INTO {table} (id, name, extra) VALUES (40000, 'late', 7)")
    second = run_table_job(job(cluster, table, river))
    assert second.details["cdc_changes"] > 12000
    assert second.details["cdc_lag_bytes"] is not None
    columns = COLUMNS + ", extra"
    assert checksum(cluster, table, "postgres", columns) == checksum(
        cluster, table, "target", columns
    )
    # nothing new: a run applies nothing and changes nothing
    third = run_table_job(job(cluster, table, river))
    assert third.details["cdc_changes"] == 0
    assert checksum(cluster, table, "postgres", columns) == checksum(
        cluster, table, "target", columns
    )


def test_soft_deletes_and_change_columns(cluster: PgCluster, names: tuple[str, str]) -> None:
    table, river = names
    make_table(cluster, table)
    options = CdcOptions(name=river, deletes="soft", change_columns=True)
    run_table_job(job(cluster, table, river, cdc=options))
    sql(cluster, f"DELETE FROM {table} WHERE id <= 10")
    sql(cluster, f"UPDATE {table} SET name = 'u' WHERE id = 20")
    run_table_job(job(cluster, table, river, cdc=options))
    rows = sql(
        cluster,
        f"SELECT id, _hw_deleted_at IS NOT NULL, _hw_op FROM {table} WHERE id IN (1, 10, 11, 20) "
        "ORDER BY id",
        database="target",
    )
    assert rows == [(1, True, "delete"), (10, True, "delete"), (11, False, "snapshot"),
                    (20, False, "update")]  # fmt: skip
    sql(cluster, f"TRUNCATE {table}")
    run_table_job(job(cluster, table, river, cdc=options))
    left = sql(
        cluster, f"SELECT count(*) FROM {table} WHERE _hw_deleted_at IS NULL", database="target"
    )
    assert left == [(0,)]


def test_history_keeps_every_version(cluster: PgCluster, names: tuple[str, str]) -> None:
    table, river = names
    sql(cluster, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    sql(cluster, f"INSERT INTO {table} VALUES (1, 'a'), (2, 'b')")
    options = CdcOptions(name=river, history=True)
    run_table_job(job(cluster, table, river, cdc=options))
    sql(cluster, f"UPDATE {table} SET v = 'a2' WHERE id = 1")
    sql(cluster, f"UPDATE {table} SET v = 'a3' WHERE id = 1")
    sql(cluster, f"DELETE FROM {table} WHERE id = 2")
    run_table_job(job(cluster, table, river, cdc=options, load_method="merge"))
    rows = sql(
        cluster,
        f"SELECT id, v, _hw_is_current, _hw_valid_to IS NULL FROM {table} "
        "ORDER BY id, _hw_valid_from, v",
        database="target",
    )
    assert rows == [
        (1, "a", False, False),
        (1, "a2", False, False),
        (1, "a3", True, True),
        (2, "b", False, False),
    ]


def test_table_without_primary_key(cluster: PgCluster, names: tuple[str, str]) -> None:
    table, river = names
    sql(cluster, f"CREATE TABLE {table} (a int, b text)")
    with pytest.raises(JobFailed, match="no primary key"):
        run_table_job(job(cluster, table, river))
    # with REPLICA IDENTITY FULL and the append method: an append-only change log
    sql(cluster, f"ALTER TABLE {table} REPLICA IDENTITY FULL")
    sql(cluster, f"INSERT INTO {table} VALUES (1, 'x')")
    run_table_job(job(cluster, table, river, load_method="append"))
    sql(cluster, f"UPDATE {table} SET b = 'y'")
    sql(cluster, f"DELETE FROM {table}")
    run_table_job(job(cluster, table, river, load_method="append"))
    rows = sql(
        cluster, f"SELECT a, b, _hw_op FROM {table} ORDER BY _hw_lsn, _hw_op", database="target"
    )
    assert rows == [(1, "x", "snapshot"), (1, "y", "update"), (1, "y", "delete")]


def test_replica_identity_default_and_full(cluster: PgCluster, names: tuple[str, str]) -> None:
    """DEFAULT logs only the key of a deleted row (enough to delete it); an unchanged large
    (TOASTed) value is not logged at all and is read back from the source; FULL logs it."""
    table, river = names
    sql(cluster, f"CREATE TABLE {table} (id int PRIMARY KEY, big text, small text)")
    big = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000))
    sql(cluster, f"INSERT INTO {table} VALUES (1, %s, 'a'), (2, %s, 'b')", (big, big))
    run_table_job(job(cluster, table, river))
    sql(cluster, f"UPDATE {table} SET small = 'c' WHERE id = 1")  # big not logged (TOAST)
    sql(cluster, f"DELETE FROM {table} WHERE id = 2")  # only the key logged
    run_table_job(job(cluster, table, river))
    assert sql(cluster, f"SELECT id, big = %s, small FROM {table}", (big,), database="target") == [
        (1, True, "c")
    ]
    sql(cluster, f"ALTER TABLE {table} REPLICA IDENTITY FULL")
    sql(cluster, f"UPDATE {table} SET small = 'd' WHERE id = 1")
    run_table_job(job(cluster, table, river))
    assert sql(cluster, f"SELECT id, big = %s, small FROM {table}", (big,), database="target") == [
        (1, True, "d")
    ]


@pytest.mark.parametrize("target", ["duckdb", "sqlite"])
def test_file_targets_apply_changes(
    cluster: PgCluster, names: tuple[str, str], target: str, tmp_path: Path
) -> None:
    table, river = names
    sql(cluster, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    sql(cluster, f"INSERT INTO {table} SELECT g, 'v' || g FROM generate_series(1, 50) g")
    path = str(tmp_path / f"t.{target}")
    make = lambda: job(  # noqa: E731
        cluster, table, river, target_connector=target, target_props={"path": path},
        target_schema=None,
    )  # fmt: skip
    run_table_job(make())
    sql(cluster, f"DELETE FROM {table} WHERE id <= 5")
    sql(cluster, f"UPDATE {table} SET v = 'w' WHERE id = 6")
    sql(cluster, f"UPDATE {table} SET id = 100 WHERE id = 7")
    run_table_job(make())
    expected = sql(cluster, f"SELECT id, v FROM {table} ORDER BY id")
    if target == "duckdb":
        import duckdb

        with duckdb.connect(path) as conn:
            got = conn.execute(f"SELECT id, v FROM {table} ORDER BY id").fetchall()
    else:
        import sqlite3

        with contextlib_closing(sqlite3.connect(path)) as conn:
            got = conn.execute(f"SELECT id, v FROM {table} ORDER BY id").fetchall()
    assert got == expected


def contextlib_closing(conn: Any) -> Any:
    import contextlib

    return contextlib.closing(conn)


def test_continuous_mode_applies_until_cancelled(
    cluster: PgCluster, names: tuple[str, str]
) -> None:
    import threading
    import time

    table, river = names
    sql(cluster, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    reports: list[dict[str, Any]] = []
    stop = threading.Event()
    options = CdcOptions(name=river, continuous=True, commit_seconds=0.2, report=reports.append)
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(run_table_job(job(cluster, table, river, cdc=options),
                                                    cancel=stop)),
    )  # fmt: skip
    worker.start()
    try:
        for i in range(5):
            sql(cluster, f"INSERT INTO {table} VALUES (%s, 'v')", (i,))
            time.sleep(0.2)
        sql(cluster, f"DELETE FROM {table} WHERE id = 0")
        deadline = time.monotonic() + 30
        rows: Any = None
        while time.monotonic() < deadline:
            try:  # the target table appears with the initial snapshot (slow under load)
                rows = sql(cluster, f"SELECT id FROM {table} ORDER BY id", database="target")
            except psycopg.errors.UndefinedTable:
                rows = None
            if rows == [(1,), (2,), (3,), (4,)]:
                break
            time.sleep(0.2)
        assert rows == [(1,), (2,), (3,), (4,)]
    finally:
        stop.set()
        worker.join(30)
    assert not worker.is_alive()
    assert reports and {"cdc_lag_seconds", "cdc_lag_bytes"} <= set(reports[-1])


def test_slot_named_per_river_kept_then_dropped(cluster: PgCluster, names: tuple[str, str]) -> None:
    from headwater.connectors.postgres.cdc import slot_names
    from headwater.connectors.postgres.source import PostgresSource

    table, river = names
    sql(cluster, f"CREATE TABLE {table} (id int PRIMARY KEY)")
    result = run_table_job(job(cluster, table, river))
    publication, slot = slot_names(river)
    assert (publication, slot) == (f"hw_pub_{river}", f"hw_slot_{river}")
    assert sql(cluster, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    assert result.details["cdc_retained_bytes"] is not None
    source = PostgresSource(dict(cluster.props, schema="public"))
    reader = source.change_reader(river)
    reader.drop()
    reader.close()
    assert not sql(cluster, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    assert not sql(cluster, "SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,))


def test_retained_wal_warning(cluster: PgCluster, names: tuple[str, str]) -> None:
    table, river = names
    sql(cluster, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    options = CdcOptions(name=river, retained_warning_bytes=1)
    messages: list[tuple[str, str]] = []
    run_table_job(job(cluster, table, river, cdc=options))
    sql(cluster, f"INSERT INTO {table} SELECT g, 'v' FROM generate_series(1, 100) g")
    result = run_table_job(
        job(cluster, table, river, cdc=options), log=lambda *m: messages.append(m)
    )
    assert any(level == "warning" and "keeps" in text for level, text in messages)
    assert "keeps" in result.details["cdc_warning"]  # also in the run record and webhooks


def test_initial_snapshot_resumes_at_its_last_committed_chunk(
    cluster: PgCluster, names: tuple[str, str]
) -> None:
    table, river = names
    sql(cluster, f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    sql(cluster, f"INSERT INTO {table} SELECT g, 'v' FROM generate_series(1, 5000) g")
    sql(cluster, f"ANALYZE {table}")
    options = CdcOptions(name=river, snapshot_chunk_rows=1000)

    def crash_late(rows: int, _bytes: int) -> None:
        if rows > 2500:
            raise RuntimeError("worker lost")

    with pytest.raises(JobFailed, match="worker lost"):
        run_table_job(job(cluster, table, river, cdc=options), progress=crash_late)
    committed = sql(cluster, f"SELECT count(*) FROM {table}", database="target")[0][0]
    assert 0 < committed < 5000  # the chunks before the crash stayed committed
    sql(cluster, f"UPDATE {table} SET v = 'w' WHERE id IN (1, 4999)")  # during the pause
    resumed = run_table_job(job(cluster, table, river, cdc=options))
    assert resumed.details["cdc_snapshot_rows"] == 5000 - committed
    assert checksum(cluster, table, "postgres", "id, v") == checksum(
        cluster, table, "target", "id, v"
    )


def test_excluded_columns_stay_out_of_the_target(
    cluster: PgCluster, names: tuple[str, str]
) -> None:
    """``is_selected: false`` columns are left out of the snapshot and of every change,
    including a column added mid-stream that is excluded, like the batch path does."""
    table, river = names
    sql(cluster, f"CREATE TABLE {table} (id int PRIMARY KEY, v text, secret text)")
    sql(cluster, f"INSERT INTO {table} SELECT g, 'v' || g, 's' || g FROM generate_series(1, 50) g")
    excluded = ("secret", "later_secret")
    run_table_job(job(cluster, table, river, excluded_columns=excluded))
    sql(cluster, f"ALTER TABLE {table} ADD COLUMN later_secret text, ADD COLUMN later text")
    sql(cluster, f"UPDATE {table} SET secret = 'x', later_secret = 'y', later = 'z' WHERE id < 5")
    sql(cluster, f"INSERT INTO {table} VALUES (100, 'new', 'x', 'y', 'z')")
    sql(cluster, f"DELETE FROM {table} WHERE id = 7")
    result = run_table_job(job(cluster, table, river, excluded_columns=excluded))
    assert result.details["cdc_changes"] == 6
    target_columns = {
        row[0]
        for row in sql(
            cluster,
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
            (table,),
            database="target",
        )
    }
    assert target_columns == {"id", "v", "later"}
    assert checksum(cluster, table, "postgres", "id, v, later") == checksum(
        cluster, table, "target", "id, v, later"
    )
