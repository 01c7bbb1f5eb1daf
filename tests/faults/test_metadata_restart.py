"""The metadata PostgreSQL restarts while runs are in flight.

The metadata database is a private cluster, so stopping it disturbs no other test. While it is
down the API answers ``503`` with ``Retry-After`` (never a crash, never a hang); when it is back
the same server process answers again without operator action, the runs that were in flight end
in a final state consistent with their target (a run reported ``succeeded`` has its rows; one
that did not finish is ``failed`` and left the target as it was), and the river runs again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import create_pg_database, drop_pg_database
from tests.faults.faultkit import PrivatePostgres, copy_river, slow_source, wait_moving
from tests.live import TOKEN_SCOPES, Api, checksum, make_cluster

pytestmark = pytest.mark.slow

ROWS = 60_000
SLOW_EVERY = 6_000
OUTAGE_SECONDS = 4.0


@pytest.fixture
def private_meta() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def data_dbs() -> Iterator[dict[str, str]]:
    urls = {name: create_pg_database(f"hw_{name}") for name in ("src", "dst")}
    yield urls
    for url in urls.values():
        drop_pg_database(url)


def _poll_during_outage(client: httpx.Client, path: str, seconds: float) -> list[httpx.Response]:
    answers = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answers.append(client.get(path, timeout=15))
        time.sleep(0.25)
    return answers


def test_metadata_restart_with_runs_in_flight(
    tmp_path: Path, private_meta: PrivatePostgres, data_dbs: dict[str, str]
) -> None:
    pg = {"meta": private_meta.create_database("meta"), **data_dbs}
    slow_source(pg["src"], ROWS, SLOW_EVERY)
    cluster = make_cluster(tmp_path, pg, HEADWATER_WORKER_LOST_AFTER_SECONDS="6")
    try:
        _, base = cluster.server()
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        river_id = copy_river(api, pg, "overwrite")
        run_id = api.run(river_id)["runs"][0]["run_id"]
        wait_moving(api, river_id, run_id)

        private_meta.stop()
        answers = _poll_during_outage(api.client, api.prefix + "/rivers", OUTAGE_SECONDS)
        private_meta.start()

        statuses = {r.status_code for r in answers}
        assert statuses == {503}, [(r.status_code, r.text[:200]) for r in answers]
        assert all(r.headers.get("Retry-After", "").isdigit() for r in answers)
        assert all(r.json() == {"detail": answers[0].json()["detail"]} for r in answers)

        # Back without operator action: the same server process answers again.
        deadline = time.monotonic() + 30
        while api.client.get(api.prefix + "/rivers").status_code != 200:
            assert time.monotonic() < deadline, "API did not recover after the restart"
            time.sleep(0.2)

        run = api.wait_run(river_id, run_id, limit=90)
        copied = checksum(pg["dst"], "events")
        if run["status"] == "succeeded":
            assert copied == checksum(pg["src"], "events")
        else:
            assert run["status"] == "failed", run
            assert copied is None or copied == checksum(pg["src"], "events"), copied
        groups = api.call(
            "GET",
            f"/rivers/{river_id}/activities_run_groups",
            params={"start_time": "2000-01-01T00:00:00", "end_time": "2100-01-01T00:00:00"},
        )
        assert {g["status"] for g in groups["items"]} <= {"succeeded", "failed"}, groups

        again = api.run(river_id)["runs"][0]["run_id"]
        assert api.wait_run(river_id, again)["status"] == "succeeded"
        assert checksum(pg["dst"], "events") == checksum(pg["src"], "events")
        api.close()
    except AssertionError:
        print(cluster.logs())
        raise
    finally:
        cluster.stop_all()
