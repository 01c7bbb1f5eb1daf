"""A Singer tap built with singer-sdk (``tap_hwtest/``) against a local HTTP API.

Pagination, incremental state (the second run loads only items updated since), a secret
setting that never reaches the run log, an error or a stored connection, and a tap that dies
mid-stream leaving the target as it was.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from headwater.connectors.errors import ConfigurationError, JobFailed
from headwater.connectors.registry import default_registry
from headwater.engine import TableJob, run_table_job
from tests.connectors.bridges._api import PAGE_SIZE, running_api
from tests.connectors.bridges._cache import INSTALL_TIMEOUT, install, tap_requirement, use_cache

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT)]
TOKEN = "hw-tap-secret-7d1c9e55aa"


@pytest.fixture(autouse=True)
def tap(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cache(monkeypatch)
    install(tap_requirement())


def props(url: str, **config: Any) -> dict[str, Any]:
    return {
        "package": "tap-hwtest",
        "config": json.dumps({"base_url": url, **config}),
        "secret_config": json.dumps({"api_token": TOKEN}),
    }


def job(
    url: str, warehouse: Path, options: dict[str, Any] | None = None, **config: Any
) -> TableJob:
    return TableJob(
        "singer",
        props(url, **config),
        "duckdb",
        {"path": str(warehouse)},
        source_table="items",
        target_table="items",
        extract_method="incremental",
        cursor_column="updated_at",
        cursor_type="timestamp",
        load_method="append",
        source_options=options or {},
    )


def rows(warehouse: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse)) as conn:
        return conn.execute("SELECT id, name, tags, owner FROM items ORDER BY id").fetchall()


def test_pages_state_and_secret_kept_out_of_logs(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    logs: list[tuple[str, str]] = []
    with running_api(TOKEN, 25) as api:
        source = default_registry().open_source("singer", props(api.url))
        source.test()  # --about and --discover
        table = source.describe(source.discover()[0].ref)
        assert table.primary_key == ("id",)
        first = run_table_job(job(api.url, warehouse), log=lambda lv, m: logs.append((lv, m)))
        assert first.rows == 25
        assert sum("page=" in r for r in api.requests) >= 3  # 25 items, 10 a page
        found = rows(warehouse)
        assert [r[0] for r in found] == list(range(1, 26))
        assert json.loads(found[0][2]) == ["a", "t1"]
        assert json.loads(found[0][3]) == {"login": "user1", "age": 21}
        api.add(26, 31)
        second = run_table_job(job(api.url, warehouse), log=lambda lv, m: logs.append((lv, m)))
        assert second.rows == 6
        assert any("updated_since=" in r for r in api.requests)
        assert [r[0] for r in rows(warehouse)] == list(range(1, 32))
    text = "\n".join(m for _, m in logs)
    assert "tap-hwtest" in text  # the tap's own log lines reach the run log ...
    assert TOKEN not in text  # ... without the secret
    assert TOKEN not in json.dumps(first.cursor_value)
    assert PAGE_SIZE == 10


def test_a_secret_in_plain_config_is_refused() -> None:
    source = default_registry().open_source(
        "singer",
        {"package": "tap-hwtest", "config": json.dumps({"base_url": "x", "api_token": TOKEN})},
    )
    with pytest.raises(ConfigurationError, match="api_token as secret"):
        source.test()


def test_a_tap_dying_mid_stream_changes_nothing(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with running_api(TOKEN, 12) as api:
        assert run_table_job(job(api.url, warehouse)).rows == 12
        api.add(13, 40)
        with pytest.raises(JobFailed) as failed:
            run_table_job(job(api.url, warehouse, fail_after=15))
        message = str(failed.value)
        assert "exit code" in message and "failing on purpose" in message
        assert TOKEN not in message
        assert [r[0] for r in rows(warehouse)] == list(range(1, 13))
        assert run_table_job(job(api.url, warehouse)).rows == 28
        assert [r[0] for r in rows(warehouse)] == list(range(1, 41))


KILL_SCRIPT = """
import json, sys
from headwater.engine import TableJob, run_table_job
job = TableJob("singer", json.loads(sys.argv[1]), "duckdb", {"path": sys.argv[2]},
               source_table="items", target_table="items", extract_method="incremental",
               cursor_column="updated_at", cursor_type="timestamp", load_method="append",
               source_options={"commit_records": 100})
def log(level, message):
    if "state point" in message:
        print("committed", message, flush=True)
run_table_job(job, log=log)
print("finished", flush=True)
"""


def test_a_run_killed_after_a_state_point_resumes_there_exactly(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    count = 740  # the test API's dates stay in January up to item 743
    with running_api(TOKEN, count) as api:
        child = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, json.dumps(props(api.url)), str(warehouse)],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
            start_new_session=True,
        )
        assert child.stdout is not None
        deadline = time.monotonic() + 240
        line = ""
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if line.startswith("committed") or not line:
                break
        os.killpg(child.pid, signal.SIGKILL)  # the run and the tap, mid-stream
        child.wait(30)
        child.stdout.close()
        assert line.startswith("committed"), f"no state point was committed: {line!r}"
        kept = [r[0] for r in rows(warehouse)]
        # the target holds exactly the rows the committed state covers: 1..n, n >= 100
        assert len(kept) >= 100 and len(kept) < count
        assert kept == list(range(1, len(kept) + 1))
        target = default_registry().open_target("duckdb", {"path": str(warehouse)})
        schema = target.default_schema()
        state = target.read_state(schema, job(api.url, warehouse).resolved_state_key(schema))
        assert state is not None
        bookmark = json.loads(str(state.value))["bookmarks"]["items"]["replication_key_value"]
        assert bookmark[:19] == item_updated_at(len(kept))[:19]
        requests_before = len(api.requests)
        resumed = run_table_job(job(api.url, warehouse))
        assert resumed.rows == count - len(kept)  # none lost, none twice
        assert any("updated_since=" in r for r in api.requests[requests_before:])
        assert [r[0] for r in rows(warehouse)] == list(range(1, count + 1))
        assert run_table_job(job(api.url, warehouse)).rows == 0


def item_updated_at(number: int) -> str:
    from tests.connectors.bridges._api import item

    return str(item(number)["updated_at"])
