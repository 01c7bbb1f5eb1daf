"""SIGKILL of a Celery worker in the middle of an overwrite, an append, a merge and an
incremental load. After the kill the run ends ``failed``
("worker lost"), the target is exactly as before (checksum), and the rerun is exact: nothing
lost, nothing twice (every id once, or exactly twice for the append of the same rows).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from tests._services import require_service
from tests.faults.faultkit import (
    add_rows,
    bump_source,
    copy_river,
    id_multiplicity,
    slow_source,
    wait_moving,
)
from tests.live import TOKEN_SCOPES, Api, checksum, make_cluster

pytestmark = pytest.mark.slow

LOST_AFTER = "3"
CASES = {
    # load method, extract method, what changes in the source between the two loads, rows
    # (the source pauses 0.4 s every rows/10 rows: about 4 s per copy)
    "overwrite": ("overwrite", "all", "bump", 500_000),
    "append": ("append", "all", "none", 60_000),
    "merge": ("merge", "all", "bump", 60_000),
    "incremental": ("merge", "incremental", "new rows", 60_000),
}


def _change(url: str, change: str, rows: int) -> None:
    if change == "bump":
        bump_source(url)
    elif change == "new rows":
        add_rows(url, rows + 1, rows)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sigkill_worker_mid_load(tmp_path: Path, pg_databases: dict[str, str], case: str) -> None:
    require_service("redis")
    load, extract, change, rows = CASES[case]
    slow_source(pg_databases["src"], rows, rows // 10)
    cluster = make_cluster(
        tmp_path,
        pg_databases,
        HEADWATER_EXECUTOR="celery",
        HEADWATER_CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{1 + uuid.uuid4().int % 15}",
        HEADWATER_WORKER_LOST_AFTER_SECONDS=LOST_AFTER,
    )
    try:
        _, base = cluster.server(command="server")
        worker = cluster.start("worker-1", "worker", "--concurrency", "1")
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        river_id = copy_river(api, pg_databases, load, extract)
        first = api.run(river_id)["runs"][0]["run_id"]
        assert api.wait_run(river_id, first)["status"] == "succeeded"
        before = checksum(pg_databases["dst"], "events")
        assert before is not None and before[0] == rows
        _change(pg_databases["src"], change, rows)

        killed = api.run(river_id)["runs"][0]["run_id"]
        wait_moving(api, river_id, killed)
        worker.kill()
        killed_at = time.monotonic()
        run = api.wait_run(river_id, killed, limit=60)
        assert run["status"] == "failed" and "worker lost" in run["error_description"], run
        assert time.monotonic() - killed_at < 60
        assert checksum(pg_databases["dst"], "events") == before

        cluster.start("worker-2", "worker", "--concurrency", "1")
        again = api.run(river_id)["runs"][0]["run_id"]
        assert api.wait_run(river_id, again)["status"] == "succeeded"
        if load == "append":
            # The same rows appended once more: every id exactly twice, nothing else.
            assert id_multiplicity(pg_databases["dst"]) == {2: rows}
        else:
            assert id_multiplicity(pg_databases["dst"]) == {1: checksum_rows(pg_databases)}
            assert checksum(pg_databases["dst"], "events") == checksum(
                pg_databases["src"], "events"
            )
        api.close()
    except AssertionError:
        print(cluster.logs())
        raise
    finally:
        cluster.stop_all()


def checksum_rows(pg: dict[str, str]) -> int:
    found = checksum(pg["src"], "events")
    assert found is not None
    return found[0]
