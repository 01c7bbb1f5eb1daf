"""Change capture from a private MariaDB with the row binlog, into MariaDB and DuckDB."""

from __future__ import annotations

import hashlib
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
