"""rivery-cli 0.4.0, unmodified: `rivers run fire --waitForEnd` ends with D after real data
moved, and `activities logs fetch` saves the run's log.

rivery-cli's `--waitForEnd` compares elapsed time with `--timeout` and crashes with a
TypeError when `--timeout` is not given and the first status check is not final; users pass
`--timeout`, and so does this test.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.conftest import LiveServer
from tests.conftest import create_pg_database, drop_pg_database
from tests.live import Api, checksum, fill_table

SCOPES = (
    "me:list",
    "river:list",
    "river:write",
    "river:execute",
    "connection:edit",
    "activities:list",
)


def _rivery(python: Path, server: LiveServer, token: str, cwd: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "RIVERY_ACCESS_TOKEN": token,
        "RIVERY_HOST": server.url,
    }
    result = subprocess.run(
        [str(python.parent / "rivery"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    source, target = create_pg_database("hw_rsrc"), create_pg_database("hw_rdst")
    yield source, target
    drop_pg_database(source)
    drop_pg_database(target)


def test_run_fire_wait_for_end_and_fetch_logs(
    rivery_python: Path, live_server: LiveServer, tmp_path: Path, databases: tuple[str, str]
) -> None:
    source, target = databases
    fill_table(source, "orders", 5000)
    token = live_server.mint_token(*SCOPES, name="rivery runs")
    api = Api(live_server.url, token)
    river_id = api.copy_river(
        "orders via rivery-cli",
        api.pg_connection("rivery src", source.rsplit("/", 1)[1]),
        api.pg_connection("rivery dst", target.rsplit("/", 1)[1]),
        {"name": "orders"},
    )
    api.close()
    fired = _rivery(
        rivery_python,
        live_server,
        token["token"],
        tmp_path,
        "rivers",
        "run",
        "fire",
        "--riverId",
        river_id,
        "--waitForEnd",
        "--timeout",
        "240",
    )
    assert f"River {river_id} completed with D status" in fired
    assert checksum(target, "orders") == checksum(source, "orders")
    run_id = re.search(r"Run ([0-9a-f]{32}) did not complete|run_id \"?([0-9a-f]{32})", fired)
    group_id = next(g for g in run_id.groups() if g) if run_id else None
    if group_id is None:  # the run ended before the first poll: ask the API for it
        api = Api(live_server.url, token)
        groups = api.call(
            "GET",
            f"/rivers/{river_id}/activities_run_groups",
            params={"start_time": "2000-01-01T00:00:00", "end_time": "2100-01-01T00:00:00"},
        )
        api.close()
        group_id = groups["items"][0]["run_group_id"]
    log_file = tmp_path / "run.log"
    fetched = _rivery(
        rivery_python,
        live_server,
        token["token"],
        tmp_path,
        "activities",
        "logs",
        "fetch",
        "--runId",
        group_id,
        "--filePath",
        str(log_file),
    )
    assert f"Run ID {group_id} logs fetched successfully" in fetched
    saved = log_file.read_text()
    assert "timestamp,level,msg" in saved and "finished: 5000 rows" in saved
