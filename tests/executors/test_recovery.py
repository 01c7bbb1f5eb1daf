"""Recovery from a lost server: SIGKILL `headwater up` while its local executor copies.

The run must end ``failed`` with "worker lost" within 60 s of the kill, its group must settle,
the river must run again, and the target must hold exactly what it held before the killed run.
(Killed Celery workers, for every load method, are in ``tests/faults/test_kill_midload.py``.)
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.faultkit import bump_source, copy_river, slow_source, wait_moving
from tests.live import TOKEN_SCOPES, Api, checksum, make_cluster

pytestmark = pytest.mark.slow

ROWS = 500_000
LOST_AFTER = "6"


def test_sigkill_server_with_local_runs_in_flight(
    tmp_path: Path, pg_databases: dict[str, str]
) -> None:
    slow_source(pg_databases["src"], ROWS, ROWS // 10)
    cluster = make_cluster(tmp_path, pg_databases, HEADWATER_WORKER_LOST_AFTER_SECONDS=LOST_AFTER)
    try:
        server, base = cluster.server(name="up-1")
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        river_id = copy_river(api, pg_databases, "overwrite")
        first = api.run(river_id)["runs"][0]["run_id"]
        assert api.wait_run(river_id, first)["status"] == "succeeded"
        before = checksum(pg_databases["dst"], "events")
        assert before is not None and before[0] == ROWS
        bump_source(pg_databases["src"])
        killed = api.run(river_id)["runs"][0]["run_id"]
        wait_moving(api, river_id, killed)
        server.kill()
        killed_at = time.monotonic()
        api.close()
        _, base = cluster.server(name="up-2")
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        run = api.wait_run(river_id, killed, limit=60)
        assert time.monotonic() - killed_at < 60
        assert run["status"] == "failed" and "worker lost" in run["error_description"], run
        groups = api.call(
            "GET",
            f"/rivers/{river_id}/activities_run_groups",
            params={"start_time": "2000-01-01T00:00:00", "end_time": "2100-01-01T00:00:00"},
        )
        statuses = {g["run_group_id"]: g["status"] for g in groups["items"]}
        assert statuses[run["run_group_id"]] == "failed"
        assert checksum(pg_databases["dst"], "events") == before
        again = api.run(river_id)["runs"][0]["run_id"]
        assert api.wait_run(river_id, again)["status"] == "succeeded"
        assert checksum(pg_databases["dst"], "events") == checksum(pg_databases["src"], "events")
        api.close()
    except AssertionError:
        print(cluster.logs())
        raise
    finally:
        cluster.stop_all()
