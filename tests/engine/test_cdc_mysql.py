"""Change capture from a private MariaDB with the row binlog, into MariaDB and DuckDB."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pymysql
import pytest

from headwater.connectors.errors import JobFailed
from headwater.engine.jobs import CdcOptions, TableJob
from headwater.engine.pipeline import run_table_job
from tests.cdc_servers import MariaDB

pytestmark = pytest.mark.mysql


@pytest.fixture
def server(cdc_mariadb: MariaDB) -> MariaDB:
    return cdc_mariadb


_COUNTER = iter(range(1_000_000))


@pytest.fixture
def names() -> tuple[str, str]:
    n = next(_COUNTER)
    return f"my_items_{n}", f"my_river_{n}"


def sql(server: MariaDB, statement: str, params: Any = None, database: str | None = "cdc") -> Any:
    conn = pymysql.connect(
        host="127.0.0.1", port=server.port, user="root", database=database, autocommit=True
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall()
    finally:
        conn.close()


def job(server: MariaDB, table: str, river: str, **changes: Any) -> TableJob:
    base = TableJob(
        source_connector="mysql",
        source_props=server.props,
        target_connector="mysql",
        target_props={**server.props, "database": "target"},
        source_table=table,
        source_schema="cdc",
        target_schema="target",
        extract_method="cdc",
        load_method="merge",
        state_key=f"{river}:{table}",
        cdc=changes.pop("cdc", CdcOptions(name=river)),
    )
    return replace(base, **changes)


def checksum(server: MariaDB, table: str, database: str, columns: str) -> tuple[int, str]:
    rows = sql(server, f"SELECT {columns} FROM {table} ORDER BY id", database=database)
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


COLUMNS = "id, name, amount, seen, doc"


def test_snapshot_then_binlog_changes(server: MariaDB, names: tuple[str, str]) -> None:
    table, river = names
    sql(
        server,
        f"CREATE TABLE {table} (id bigint PRIMARY KEY, name varchar(40), amount decimal(12,2), "
        "seen datetime(6), doc json)",
    )
    sql(
        server,
        f"INSERT INTO {table} SELECT seq, CONCAT('n', seq), seq * 1.5, NOW(6), "
        "JSON_OBJECT('k', seq) FROM seq_1_to_300",
    )
    first = run_table_job(job(server, table, river))
    assert first.details["cdc_snapshot_rows"] == 300
    conn = pymysql.connect(host="127.0.0.1", port=server.port, user="root", database="cdc")
    with conn.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET name = 'changed' WHERE id % 7 = 0")
        cursor.execute(f"DELETE FROM {table} WHERE id % 11 = 0")
        cursor.execute(f"INSERT INTO {table} (id, name) VALUES (11, 'reborn')")
        cursor.execute(f"UPDATE {table} SET id = 10000 WHERE id = 3")
        conn.commit()
        cursor.execute(f"DELETE FROM {table} WHERE id < 100")
        conn.rollback()
        cursor.execute(
            f"INSERT INTO {table} (id, name, amount) SELECT seq, 'big', seq FROM seq_20000_to_25000"
        )
        conn.commit()
    conn.close()
    sql(server, f"ALTER TABLE {table} ADD COLUMN extra int")
    sql(server, f"UPDATE {table} SET extra = id WHERE id % 5 = 0")
    second = run_table_job(job(server, table, river))
    assert second.details["cdc_changes"] > 5000
    columns = COLUMNS + ", extra"
    assert checksum(server, table, "cdc", columns) == checksum(server, table, "target", columns)
    third = run_table_job(job(server, table, river))
    assert third.details["cdc_changes"] == 0


def test_row_binlog_required(server: MariaDB, names: tuple[str, str]) -> None:
    table, river = names
    sql(server, f"CREATE TABLE {table} (id int PRIMARY KEY)")
    sql(server, "SET GLOBAL binlog_row_image = 'MINIMAL'")
    try:
        with pytest.raises(JobFailed, match="binlog_row_image"):
            run_table_job(job(server, table, river))
    finally:
        sql(server, "SET GLOBAL binlog_row_image = 'FULL'")


def test_into_duckdb_with_soft_deletes(
    server: MariaDB, names: tuple[str, str], tmp_path: Path
) -> None:
    table, river = names
    sql(server, f"CREATE TABLE {table} (id int PRIMARY KEY, v varchar(10))")
    sql(server, f"INSERT INTO {table} SELECT seq, 'v' FROM seq_1_to_20")
    path = str(tmp_path / "t.duckdb")
    options = CdcOptions(name=river, deletes="soft")
    make = lambda: job(  # noqa: E731
        server, table, river, target_connector="duckdb", target_props={"path": path},
        target_schema=None, cdc=options,
    )  # fmt: skip
    run_table_job(make())
    sql(server, f"DELETE FROM {table} WHERE id <= 3")
    sql(server, f"UPDATE {table} SET v = 'w' WHERE id = 4")
    run_table_job(make())
    import duckdb

    with duckdb.connect(path) as conn:
        rows = conn.execute(
            f"SELECT id, v, _hw_deleted_at IS NOT NULL FROM {table} WHERE id <= 5 ORDER BY id"
        ).fetchall()
    assert rows == [
        (1, "v", True),
        (2, "v", True),
        (3, "v", True),
        (4, "w", False),
        (5, "v", False),
    ]


def _state(server: MariaDB, river: str, table: str) -> str:
    rows = sql(server, "SELECT * FROM _headwater_state", database="target")
    found = [str(value) for row in rows for value in row if f"{river}:{table}" in str(row)]
    [text] = [v for v in found if "position" in v]
    return str(json.loads(text)["position"])


def test_snapshot_is_consistent_with_its_binlog_position(
    server: MariaDB, names: tuple[str, str]
) -> None:
    """Rows written while the snapshot is read land exactly once in an append-only change log:
    either in the snapshot or as a change after its position, never both (a replay-aligned
    snapshot holds them twice)."""
    table, river = names
    sql(server, f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
    sql(server, f"INSERT INTO {table} SELECT seq * 2, 0 FROM seq_1_to_60000")
    options = CdcOptions(name=river, change_columns=True, snapshot_chunk_rows=1000)
    make = lambda: job(  # noqa: E731
        server, table, river, load_method="append", cdc=options, parallel_partitions=2
    )
    stop = threading.Event()
    inserted: list[int] = []

    def write() -> None:
        conn = pymysql.connect(
            host="127.0.0.1", port=server.port, user="root", database="cdc", autocommit=True
        )
        rng = random.Random(7)
        try:
            with conn.cursor() as cursor:
                while not stop.is_set():
                    odd = rng.randrange(1, 120_000, 2)
                    if odd in inserted:
                        continue
                    cursor.execute(f"INSERT INTO {table} VALUES (%s, 1)", (odd,))
                    inserted.append(odd)
        finally:
            conn.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        first = run_table_job(  # the stream catches up once the writer stops
            make(), log=lambda _level, text: stop.set() if "snapshot committed" in text else None
        )
    finally:
        stop.set()
        writer.join(30)
    assert first.details["cdc_snapshot_rows"] >= 60000 and len(inserted) > 50
    assert "#0-1-" in _state(server, river, table)  # the GTID beside file:position
    run_table_job(make())
    rows = sql(
        server,
        f"SELECT id, COUNT(*) FROM {table} WHERE id % 2 = 1 GROUP BY id",
        database="target",
    )
    counts = {int(i): int(n) for i, n in rows}
    shown = sql(server, f"SELECT DISTINCT _hw_lsn FROM {table} WHERE _hw_op = 'snapshot'",
                database="target")  # fmt: skip
    assert len(shown) == 1 and "#" not in shown[0][0]  # file:position, as change rows show
    assert set(counts) == set(inserted)
    assert {i: n for i, n in counts.items() if n != 1} == {}  # each write exactly once


def test_resumes_by_gtid_after_the_binlog_file_was_purged(
    server: MariaDB, names: tuple[str, str], tmp_path: Path
) -> None:
    """The recorded binlog file is purged after a rotation: the run resumes from the GTID
    position kept beside file:position (into DuckDB, so that no target write follows the
    recorded position in the purged file)."""
    import duckdb

    table, river = names
    sql(server, f"CREATE TABLE {table} (id int PRIMARY KEY, v varchar(10))")
    sql(server, f"INSERT INTO {table} SELECT seq, 'v' FROM seq_1_to_100")
    path = str(tmp_path / "t.duckdb")
    make = lambda: job(  # noqa: E731
        server, table, river, target_connector="duckdb", target_props={"path": path},
        target_schema=None,
    )  # fmt: skip

    def state() -> str:
        with duckdb.connect(path) as conn:
            rows = conn.execute("SELECT * FROM _headwater_state").fetchall()
        [text] = [str(v) for row in rows for v in row if '"position"' in str(v)]
        return str(json.loads(text)["position"])

    def rows(read: Any) -> list[tuple[Any, ...]]:
        return sorted((int(i), str(v)) for i, v in read)

    run_table_job(make())
    recorded = state()
    assert "#0-1-" in recorded  # the GTID beside file:position
    sql(server, "FLUSH BINARY LOGS")
    [current] = sql(server, "SHOW MASTER STATUS", database=None)[:1]
    sql(server, f"UPDATE {table} SET v = 'w' WHERE id <= 10")
    sql(server, f"DELETE FROM {table} WHERE id > 90")
    sql(server, f"INSERT INTO {table} VALUES (500, 'new')")
    # MariaDB skips a file a binlog dump thread still reads (an earlier reader's thread can
    # outlive its connection for a moment): purge until the recorded file is gone
    deadline = time.monotonic() + 30
    while True:
        sql(server, f"PURGE BINARY LOGS TO '{current[0]}'")
        logs = {row[0] for row in sql(server, "SHOW BINARY LOGS", database=None)}
        if recorded.split(":", 1)[0] not in logs or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert recorded.split(":", 1)[0] not in logs
    second = run_table_job(make())
    assert second.details["cdc_changes"] == 10 + 10 + 1
    with duckdb.connect(path) as conn:
        target = rows(conn.execute(f"SELECT id, v FROM {table}").fetchall())
    assert target == rows(sql(server, f"SELECT id, v FROM {table}"))
    resumed = state()
    assert resumed.split(":", 1)[0] == current[0] and "#0-1-" in resumed
    assert run_table_job(make()).details["cdc_changes"] == 0
