"""One table's run split across real Celery worker processes on Redis (``runner/parts.py``).

A source table read through a row-level-security policy that pauses every few rows (so a part
lasts about a second, long enough to kill its worker) by a non-superuser role; two
``headwater worker`` processes of concurrency 1; PostgreSQL metadata, source and target.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database
from tests.live import TOKEN_SCOPES, Api, Cluster, Proc, checksum, libpq, make_cluster

pytestmark = pytest.mark.slow

ROWS = 4000
PARTS = 4
READER = "hw_parts_reader"


def _source(url: str, table: str, *, key: bool, pause_every: int, bad_id: int = 0) -> None:
    """``table`` with ROWS rows (a primary key or none) read by READER through a policy that
    sleeps 0.25 s every ``pause_every`` ids and raises at ``bad_id``."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{READER}')"
            f" THEN CREATE ROLE {READER} LOGIN; END IF; END $$"
        )
        conn.execute(
            "CREATE OR REPLACE FUNCTION hw_pass(id bigint) RETURNS boolean LANGUAGE plpgsql"
            f" AS $$ BEGIN IF id = {bad_id} THEN RAISE EXCEPTION 'bad row %', id; END IF;"
            f" IF id % {pause_every} = 0 THEN PERFORM pg_sleep(0.25); END IF;"
            " RETURN true; END $$"
        )
        primary = " PRIMARY KEY" if key else ""
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id bigint{primary}, body text, amount numeric(14,2))")
        conn.execute(
            f"INSERT INTO {table} SELECT g, md5(g::text), (g * 0.5)::numeric(14,2)"
            f" FROM generate_series(1, {ROWS}) g"
        )
        conn.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        conn.execute(f"CREATE POLICY slow ON {table} FOR SELECT USING (hw_pass(id))")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {READER}")
        conn.execute(f"GRANT SELECT ON {table} TO {READER}")


class Setup:
    def __init__(self, dbs: dict[str, str], cluster: Cluster, api: Api, workers: list[Proc]):
        self.dbs, self.cluster, self.api, self.workers = dbs, cluster, api, workers
        self.source = self._connection("src", READER)
        self.target = self._connection("dst", "postgres")

    def _connection(self, name: str, user: str) -> str:
        body = {
            "connection_name": f"{name}-{uuid.uuid4().hex[:6]}",
            "connection_type": "postgres",
            "properties": {
                "host": "127.0.0.1",
                "port": 5432,
                "database": self.dbs[name].rsplit("/", 1)[1],
                "username": user,
                "password": "unused-with-trust",
            },
        }
        return str(self.api.call("POST", "/connections", 201, json=body)["connection_id"])

    def river(self, table: str, retries: int = 0) -> str:
        body = {
            "name": f"parts {table} {uuid.uuid4().hex[:6]}",
            "type": "source_to_target",
            "properties": {
                "source": {"connection_id": self.source},
                "target": {"connection_id": self.target, "schema_name": "public"},
                "schemas": [{"name": "public", "tables": [{"name": table}]}],
            },
            "settings": {"parallel_partitions": PARTS, "retry_attempts": retries},
        }
        return str(self.api.call("POST", "/rivers", 201, json=body)["cross_id"])

    def run(self, river: str) -> str:
        return str(self.api.run(river)["runs"][0]["run_id"])

    def meta(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(libpq(self.dbs["meta"])) as conn:
            return conn.execute(query, args).fetchall()

    def leftovers(self) -> list[str]:
        with psycopg.connect(libpq(self.dbs["dst"])) as conn:
            rows = conn.execute(
                "SELECT relname FROM pg_class WHERE relname LIKE '\\_hw\\_%' AND relkind = 'r'"
            ).fetchall()
        return [str(r[0]) for r in rows]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    require_service("redis")
    require_service("postgres")
    dbs = {name: create_pg_database(f"hw_parts_{name}") for name in ("meta", "src", "dst")}
    cluster = make_cluster(
        tmp_path_factory.mktemp("parts"),
        dbs,
        HEADWATER_EXECUTOR="celery",
        HEADWATER_CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{1 + uuid.uuid4().int % 15}",
        HEADWATER_WORKER_LOST_AFTER_SECONDS="3",
    )
    try:
        _, base = cluster.server(command="server", health_limit=120)  # a loaded CI machine
        workers = [
            cluster.start(f"w{i}", "worker", "--concurrency", "1", "--name", f"w{i}@parts")
            for i in (1, 2)
        ]
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        setup = Setup(dbs, cluster, api, workers)
        yield setup
        api.close()
        for worker in setup.workers:
            worker.kill()  # no warm shutdown to wait for: nothing of theirs is left running
    finally:
        cluster.stop_all()
        for url in dbs.values():
            drop_pg_database(url)


def _parts(run: dict[str, Any]) -> list[dict[str, Any]]:
    parts = run.get("parts") or []
    return sorted(parts, key=lambda p: p["part"])


def test_four_parts_on_two_workers_equal_the_source(setup: Setup) -> None:
    _source(setup.dbs["src"], "keyed", key=True, pause_every=300)
    river = setup.river("keyed")
    run_id = setup.run(river)
    run = setup.api.wait_run(river, run_id, limit=60)
    assert run["status"] == "succeeded", (run, setup.cluster.logs())
    assert run["total_rows"] == ROWS
    assert checksum(setup.dbs["dst"], "keyed") == checksum(setup.dbs["src"], "keyed")
    parts = _parts(run)
    assert [p["part"] for p in parts] == [1, 2, 3, 4]
    assert {p["status"] for p in parts} == {"committed"}
    assert sum(p["rows"] for p in parts) == ROWS
    assert all(p["attempts"] == 1 and p["seconds"] > 0 for p in parts), parts
    assert parts[0]["lower"] is None and parts[-1]["upper"] is None
    assert len({p["worker"] for p in parts}) == 2, f"both workers should do parts: {parts}"
    assert setup.leftovers() == []


def test_a_table_without_a_key_splits_by_pages(setup: Setup) -> None:
    _source(setup.dbs["src"], "heap", key=False, pause_every=100_000)
    river = setup.river("heap")
    run = setup.api.wait_run(river, setup.run(river), limit=60)
    assert run["status"] == "succeeded", run
    parts = _parts(run)
    assert len(parts) >= 2 and all(str(p["upper"]).startswith("(") for p in parts[:-1]), parts
    assert checksum(setup.dbs["dst"], "heap") == checksum(setup.dbs["src"], "heap")


def test_a_killed_part_is_redone_alone(setup: Setup) -> None:
    _source(setup.dbs["src"], "killed", key=True, pause_every=200)
    river = setup.river("killed")
    run_id = setup.run(river)
    coordinator, victim_pid, victim_part = None, 0, 0
    deadline = time.monotonic() + 30
    while not victim_pid:
        assert time.monotonic() < deadline, setup.cluster.logs()
        rows = setup.meta("SELECT worker FROM runs WHERE id = %s", run_id)
        coordinator = rows[0][0] if rows else None
        for part, worker in setup.meta(
            "SELECT part, worker FROM run_parts WHERE run_id = %s AND status = 'running'", run_id
        ):
            if coordinator and worker and worker != coordinator:
                victim_pid, victim_part = int(worker.rsplit(":", 1)[1]), part
        time.sleep(0.05)
    time.sleep(0.4)  # inside the part's second or so
    victim = next(w for w in setup.workers if w.process.pid == victim_pid)
    victim.kill()
    setup.workers.remove(victim)
    run = setup.api.wait_run(river, run_id, limit=60)
    assert run["status"] == "succeeded", (run, setup.cluster.logs())
    assert checksum(setup.dbs["dst"], "killed") == checksum(setup.dbs["src"], "killed")
    with psycopg.connect(libpq(setup.dbs["dst"])) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT id) FROM killed").fetchone()
    assert row == (ROWS, ROWS)
    attempts = {p["part"]: p["attempts"] for p in _parts(run)}
    assert attempts == {n: 2 if n == victim_part else 1 for n in range(1, PARTS + 1)}, attempts
    assert setup.leftovers() == []
    # a new worker takes the dead one's place for the next test
    setup.workers.append(
        setup.cluster.start("w3", "worker", "--concurrency", "1", "--name", "w3@parts")
    )


def test_a_part_failing_for_good_fails_the_run_and_leaves_the_target(setup: Setup) -> None:
    _source(setup.dbs["src"], "broken", key=True, pause_every=500, bad_id=2600)
    with psycopg.connect(libpq(setup.dbs["dst"]), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS broken")
        conn.execute("CREATE TABLE broken (id bigint PRIMARY KEY, body text, amount numeric)")
        conn.execute("INSERT INTO broken VALUES (1, 'before', 1), (2, 'before', 2)")
    before = checksum(setup.dbs["dst"], "broken")
    river = setup.river("broken")
    run = setup.api.wait_run(river, setup.run(river), limit=60)
    assert run["status"] == "failed", run
    error = run["error_description"]
    assert "part 3 (id >= 2001 and id < 3001)" in error and "bad row 2600" in error, error
    parts = _parts(run)
    assert parts[2]["status"] == "failed" and parts[2]["attempts"] == 1
    assert checksum(setup.dbs["dst"], "broken") == before
    deadline = time.monotonic() + 10
    while setup.leftovers():  # a part still running when the run failed drops its own table
        assert time.monotonic() < deadline, setup.leftovers()
        time.sleep(0.2)
