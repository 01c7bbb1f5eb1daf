"""The source PostgreSQL goes away in the middle of a read.

The source is a private cluster holding a slow view; the target is the shared PostgreSQL, where
each case's table holds known rows before the run. The source is stopped with ``-m immediate``
(as when its machine dies) while the copy is moving bytes. The run ends ``failed`` with a
message naming the table and saying the source connection was lost (no traceback, no
"unexpected error"), the target is exactly as before (checksum), and once the source is back a
rerun is exact. With ``retry_attempts`` and a short ``retry_delay_seconds`` every retry is
logged and the final outcome is the same (a source that is down is still down); with the
default delay (2 s, doubling) a retry rides out a source restart and the run succeeds, exact.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from tests.conftest import create_pg_database, drop_pg_database
from tests.faults.faultkit import (
    SLOW_VIEW,
    PrivatePostgres,
    id_multiplicity,
    slow_source,
    table_details,
    wait_moving,
)
from tests.live import TOKEN_SCOPES, Api, Cluster, checksum, libpq, make_cluster

pytestmark = pytest.mark.slow

# 8 pauses of 0.4 s: a copy takes about 3.5 s. 11 MB, so that the first Arrow batch (4 MiB)
# and the first COPY chunk (1 MiB) reach the target well before the read ends.
ROWS = 180_000
SLOW_EVERY = 22_500
KEPT = 500  # rows of the target before the run, ids far above the source's
KEPT_FROM = 10_000_001
CASES = {
    # case: (loading method, extract method, settings.retry_attempts); PostgreSQL to
    # PostgreSQL copies stream binary COPY rows, except incremental appends (Arrow over ADBC)
    "overwrite": ("overwrite", "all", 0),
    "append": ("append", "all", 0),
    "merge": ("merge", "all", 0),
    "incremental append (Arrow)": ("append", "incremental", 0),
    "append, 2 retries": ("append", "all", 2),
}


class CrashablePostgres(PrivatePostgres):
    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: backends quit at once, as when the machine dies."""
        self._ctl("stop", "-m", "immediate")


@dataclass
class Setup:
    source: CrashablePostgres
    source_url: str
    pg: dict[str, str]  # meta and dst on the shared PostgreSQL
    cluster: Cluster
    api: Api
    source_id: str
    target_id: str


def _pg_connection(api: Api, name: str, port: int, database: str) -> str:
    body = {
        "connection_name": name,
        "connection_type": "postgres",
        "properties": {
            "host": "127.0.0.1",
            "port": port,
            "database": database,
            "username": "postgres",
            "password": "unused-with-trust",
        },
    }
    return str(api.call("POST", "/connections", 201, json=body)["connection_id"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """One private source cluster and one ``headwater server`` (local executor) for all cases."""
    source = CrashablePostgres()
    source.start()
    pg = {name: create_pg_database(f"hw_{name}") for name in ("meta", "dst")}
    cluster = make_cluster(tmp_path_factory.mktemp("source-unreachable"), pg)
    api: Api | None = None
    try:
        source_url = source.create_database("src")
        slow_source(source_url, ROWS, SLOW_EVERY)
        _, base = cluster.server(command="server")
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        source_id = _pg_connection(api, "src", source.port, "src")
        target_id = _pg_connection(api, "dst", 5432, pg["dst"].rsplit("/", 1)[1])
        yield Setup(source, source_url, pg, cluster, api, source_id, target_id)
    finally:
        if api is not None:
            api.close()
        cluster.stop_all()
        source.destroy()
        for url in pg.values():
            drop_pg_database(url)


def _prefill_target(url: str, table: str) -> tuple[int, str]:
    """The target table with KEPT known rows whose ids the source does not have."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{table}" (id bigint PRIMARY KEY, body text, amount numeric(14,2))'
        )
        conn.execute(
            f"INSERT INTO \"{table}\" SELECT g, 'kept ' || g, (g % 1000)::numeric(14,2)"
            f" FROM generate_series({KEPT_FROM}, {KEPT_FROM + KEPT - 1}) g"
        )
    before = checksum(url, table)
    assert before is not None and before[0] == KEPT
    return before


def _river(
    setup: Setup, table: str, load: str, extract: str, retries: int, delay: float = 0.2
) -> str:
    details = {**table_details(load, extract), "target_table": table}
    body = {
        "name": f"unreachable source: {table}",
        "type": "source_to_target",
        "properties": {
            "source": {"connection_id": setup.source_id},
            "target": {"connection_id": setup.target_id, "schema_name": "public"},
            "schemas": [{"name": "public", "tables": [{"name": SLOW_VIEW, "details": details}]}],
        },
        "settings": {"retry_attempts": retries, "retry_delay_seconds": delay},
    }
    return str(setup.api.call("POST", "/rivers", 201, json=body)["cross_id"])


def _part(url: str, table: str, kept: bool) -> tuple[int, str]:
    """Checksum of the target's kept rows, or of the rows that came from the source."""
    where = "id >= %s" if kept else "id < %s"
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute(
            "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY id), ''))"
            f' FROM "{table}" t WHERE {where}',
            (KEPT_FROM,),
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


@pytest.mark.parametrize("case", list(CASES))
def test_source_lost_mid_read(setup: Setup, case: str) -> None:
    load, extract, retries = CASES[case]
    api, dst = setup.api, setup.pg["dst"]
    table = f"events_{list(CASES).index(case)}"
    before = _prefill_target(dst, table)
    river_id = _river(setup, table, load, extract, retries)
    try:
        run_id = api.run(river_id)["runs"][0]["run_id"]
        wait_moving(api, river_id, run_id)
        try:
            setup.source.crash()
            crashed_at = time.monotonic()
            run = api.wait_run(river_id, run_id, limit=30)
            failed_after = time.monotonic() - crashed_at
        finally:
            with contextlib.suppress(Exception):  # already running after an early failure
                setup.source.start()

        message = run["error_description"] or ""
        assert run["status"] == "failed", run
        assert message.startswith(f"Table public.{SLOW_VIEW} -> {table}: "), message
        # the connector's part names the server and database (and the relation when the read
        # itself broke; a retry that cannot connect fails before reading)
        assert "PostgreSQL 127.0.0.1/src" in message, message
        assert ": cannot connect or connection lost (" in message, message
        for noise in ("Traceback", "unexpected error", "Error(", "Exception"):
            assert noise not in message, message
        assert run["total_rows"] == 0 and float(run["units"]) == 0, run
        assert failed_after < 15, f"the failure took {failed_after:.1f} s to show"
        assert checksum(dst, table) == before, "the target changed"
        logs = api.client.get(f"{api.prefix}/rivers/{river_id}/runs/{run_id}/logs").text
        copy_kind = "Arrow copy" if extract == "incremental" else "native stream copy"
        assert f"{load} load, {copy_kind}" in logs, logs
        retried = [f"attempt {n} failed with a transient error" in logs for n in (1, 2, 3)]
        assert retried == [n <= retries for n in (1, 2, 3)], logs

        again = api.run(river_id)["runs"][0]["run_id"]
        rerun = api.wait_run(river_id, again, limit=60)
        assert rerun["status"] == "succeeded", rerun
        assert rerun["total_rows"] == ROWS, rerun
        source_sum = checksum(setup.source_url, "events")
        if load == "overwrite":
            assert checksum(dst, table) == source_sum
        else:  # append and merge keep the rows that were there and add the source's once
            assert id_multiplicity(dst, table) == {1: KEPT + ROWS}
            assert _part(dst, table, kept=False) == source_sum
            assert _part(dst, table, kept=True) == before
        print(f"{case}: failed {failed_after:.2f} s after the crash: {message}")
    except AssertionError:
        print(setup.cluster.logs())
        raise


def test_a_retry_rides_out_a_source_restart(setup: Setup) -> None:
    """The source crashes mid-read and is back a second later: the retry, 2 s after the
    failure, finds it up; the append then holds every source row once and the kept rows."""
    api, dst, table = setup.api, setup.pg["dst"], "events_retried"
    before = _prefill_target(dst, table)
    river_id = _river(setup, table, "append", "all", retries=3, delay=2.0)
    run_id = api.run(river_id)["runs"][0]["run_id"]
    wait_moving(api, river_id, run_id)
    setup.source.crash()
    try:
        time.sleep(0.5)
    finally:
        setup.source.start()
    run = api.wait_run(river_id, run_id, limit=60)
    logs = api.client.get(f"{api.prefix}/rivers/{river_id}/runs/{run_id}/logs").text
    assert run["status"] == "succeeded", (run, logs)
    assert "attempt 1 failed with a transient error" in logs, logs
    assert "connection lost" in logs and "retrying in 2 s" in logs, logs
    assert run["total_rows"] == ROWS, run
    assert id_multiplicity(dst, table) == {1: KEPT + ROWS}
    assert _part(dst, table, kept=False) == checksum(setup.source_url, "events")
    assert _part(dst, table, kept=True) == before
