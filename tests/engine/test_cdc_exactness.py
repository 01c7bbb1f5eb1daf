"""Exactly once, for both sources: random inserts, updates, deletes (a key deleted and
re-inserted, key updates, rolled back and large transactions, a column added mid-stream),
with the Headwater process SIGKILLed at random points and the source restarted mid-stream;
the target ends equal to the source (a checksum of the ordered rows)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from tests.cdc_servers import MariaDB, PgCluster

ROOT = Path(__file__).resolve().parents[2]

Execute = Callable[[str, Any], Any]


def run_worker(job: dict[str, Any], kill_after: float | None) -> bool:
    """Run the job in a process; SIGKILL it after ``kill_after`` seconds. True: it finished."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.engine.cdc_worker", json.dumps(job)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _out, err = process.communicate(timeout=kill_after if kill_after is not None else 120)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
        return False
    assert process.returncode == 0, err.decode()[-3000:]
    return True


def random_transactions(
    execute: Callable[[list[tuple[str, Any]], bool], None],
    ids: Callable[[], list[int]],
    rng: random.Random,
    count: int,
    extra: bool,
) -> None:
    """``count`` transactions of 1 to 15 random changes; about one in eight rolled back."""
    for _ in range(count):
        existing = ids()
        statements: list[tuple[str, Any]] = []
        for _ in range(rng.randint(1, 15)):
            choice = rng.random()
            new_id = rng.randint(1, 3000)
            if choice < 0.35 or not existing:
                columns = "id, name, amount" + (", extra" if extra else "")
                values = (new_id, f"n{rng.random():.6f}", rng.randint(0, 10**6) / 100)
                values += (rng.randint(0, 99),) if extra else ()
                marks = ", ".join(["%s"] * len(values))
                statements.append(("DELETE FROM {t} WHERE id = %s", (new_id,)))
                statements.append((f"INSERT INTO {{t}} ({columns}) VALUES ({marks})", values))
            elif choice < 0.65:
                target = rng.choice(existing)
                statements.append(
                    ("UPDATE {t} SET name = %s, amount = %s WHERE id = %s",
                     (f"u{rng.random():.6f}", rng.randint(0, 10**6) / 100, target))
                )  # fmt: skip
            elif choice < 0.85:
                statements.append(("DELETE FROM {t} WHERE id = %s", (rng.choice(existing),)))
            else:  # a key update, when the new key is free
                statements.append(("DELETE FROM {t} WHERE id = %s", (new_id + 5000,)))
                statements.append(
                    ("UPDATE {t} SET id = %s WHERE id = %s", (new_id + 5000, rng.choice(existing)))
                )
        execute(statements, rng.random() < 0.125)


class PgSide:
    def __init__(self, cluster: PgCluster, table: str) -> None:
        self.cluster, self.table = cluster, table

    def url(self, database: str = "postgres") -> str:
        return self.cluster.url.rsplit("/", 1)[0] + "/" + database

    def run(self, statement: str, params: Any = None, database: str = "postgres") -> Any:
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cursor = conn.execute(statement.format(t=self.table), params)
            return cursor.fetchall() if cursor.description else None

    def transaction(self, statements: list[tuple[str, Any]], rollback: bool) -> None:
        with psycopg.connect(self.url()) as conn:
            for statement, params in statements:
                conn.execute(statement.format(t=self.table), params)
            conn.rollback() if rollback else conn.commit()

    def ids(self) -> list[int]:
        return [row[0] for row in self.run("SELECT id FROM {t}")]

    def job(self, river: str) -> dict[str, Any]:
        props = self.cluster.props
        return {
            "source_connector": "postgres", "source_props": props,
            "target_connector": "postgres", "target_props": {**props, "database": "target"},
            "source_table": self.table, "source_schema": "public", "extract_method": "cdc",
            "load_method": "merge", "state_key": river, "parallel_partitions": 2,
            "cdc": {"name": river, "commit_changes": 300, "snapshot_chunk_rows": 1000},
        }  # fmt: skip

    def checksum(self, database: str, columns: str) -> tuple[int, str]:
        rows = self.run(f"SELECT {columns} FROM {{t}} ORDER BY id", database=database)
        return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()

    def restart(self) -> None:
        self.cluster.restart()


class MySide(PgSide):
    def __init__(self, server: MariaDB, table: str) -> None:
        self.server, self.table = server, table

        self._conn: Any = None

    def _connect(self, database: str) -> Any:
        if database != "cdc":
            return pymysql.connect(host="127.0.0.1", port=self.server.port, user="root",
                                   database=database)  # fmt: skip
        if self._conn is None or not self._conn.open:
            self._conn = pymysql.connect(host="127.0.0.1", port=self.server.port, user="root",
                                         database=database)  # fmt: skip
        return self._conn

    def _done(self, conn: Any) -> None:
        if conn is not self._conn:
            conn.close()

    def run(self, statement: str, params: Any = None, database: str = "cdc") -> Any:
        conn = self._connect(database)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement.format(t=self.table), params)
                rows = cursor.fetchall()
            conn.commit()
            return rows
        finally:
            self._done(conn)

    def transaction(self, statements: list[tuple[str, Any]], rollback: bool) -> None:
        conn = self._connect("cdc")
        try:
            with conn.cursor() as cursor:
                for statement, params in statements:
                    cursor.execute(statement.format(t=self.table), params)
            conn.rollback() if rollback else conn.commit()
        finally:
            self._done(conn)

    def job(self, river: str) -> dict[str, Any]:
        props = self.server.props
        return {
            "source_connector": "mysql", "source_props": props,
            "target_connector": "mysql", "target_props": {**props, "database": "target"},
            "source_table": self.table, "source_schema": "cdc", "target_schema": "target",
            "extract_method": "cdc", "load_method": "merge", "state_key": river,
            "cdc": {"name": river, "commit_changes": 300, "snapshot_chunk_rows": 1000},
        }  # fmt: skip

    def checksum(self, database: str, columns: str) -> tuple[int, str]:
        database = "cdc" if database == "postgres" else database
        rows = self.run(f"SELECT {columns} FROM {{t}} ORDER BY id", database=database)
        return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()

    def restart(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.server.restart()


def exercise(side: PgSide, river: str, seed: int, create: str, big: str) -> None:
    rng = random.Random(seed)
    side.run(create)
    side.run(big.format(t="{t}", low=1, high=2500))
    extra = False
    kills = 0
    for round_ in range(6):
        random_transactions(side.transaction, side.ids, rng, 15, extra)
        if round_ == 2:
            side.run(big.format(t="{t}", low=10001, high=14000))  # a large transaction
        if round_ == 3:
            side.run("ALTER TABLE {t} ADD COLUMN extra integer")  # mid-stream
            extra = True
        if round_ == 4:
            side.restart()  # the source restarted with changes pending
        finished = run_worker(side.job(river), kill_after=rng.uniform(0.3, 3.5))
        kills += not finished
    random_transactions(side.transaction, side.ids, rng, 10, extra)
    assert run_worker(side.job(river), kill_after=None)
    assert kills >= 1, "no run was killed: the kill points missed"
    columns = "id, name, amount, extra"
    assert side.checksum("postgres", columns) == side.checksum("target", columns)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_exactly_once_under_sigkill(cdc_pg: PgCluster) -> None:
    side = PgSide(cdc_pg, "exact_items")
    exercise(
        side, "pg_exact", 21,
        "CREATE TABLE {t} (id bigint PRIMARY KEY, name text, amount numeric(12,2))",
        "INSERT INTO {t} (id, name, amount) SELECT g, 'b' || g, g FROM "
        "generate_series({low}, {high}) g ON CONFLICT DO NOTHING",
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.mysql
def test_mariadb_exactly_once_under_sigkill(cdc_mariadb: MariaDB) -> None:
    side = MySide(cdc_mariadb, "exact_items")
    exercise(
        side, "my_exact", 21,
        "CREATE TABLE {t} (id bigint PRIMARY KEY, name varchar(40), amount decimal(12,2))",
        "INSERT IGNORE INTO {t} (id, name, amount) SELECT seq, CONCAT('b', seq), seq FROM "
        "seq_{low}_to_{high}",
    )  # fmt: skip
