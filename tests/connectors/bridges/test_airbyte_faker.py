"""airbyte-source-faker, installed from PyPI into its own venv, end to end into DuckDB.

Install, check, discover, a full refresh, incremental runs that append only the new
records, and a run killed mid-stream (SIGKILL of the whole process) that the next run
resumes from the last committed state with exact counts.
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

from headwater.connectors.bridges import packages
from headwater.connectors.errors import ConfigurationError, ConnectionFailed, JobFailed
from headwater.connectors.registry import default_registry
from headwater.engine import TableJob, run_table_job
from tests.connectors.bridges._cache import FAKER, INSTALL_TIMEOUT, install, use_cache

pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT)]


@pytest.fixture(autouse=True)
def faker(monkeypatch: pytest.MonkeyPatch) -> packages.InstalledConnector:
    use_cache(monkeypatch)
    return install(FAKER)


def props(count: int, **extra: Any) -> dict[str, Any]:
    # always_updated false: with a state, faker emits only records it has not emitted yet
    config = {
        "count": count,
        "seed": 7,
        "records_per_slice": 100,
        "parallelism": 1,
        "always_updated": False,
    }
    return {"package": FAKER, "config": json.dumps({**config, **extra})}


def job(count: int, warehouse: Path, **kwargs: Any) -> TableJob:
    values: dict[str, Any] = {
        "source_table": "users",
        "target_table": "users",
        "extract_method": "incremental",
        "cursor_column": "updated_at",
        "cursor_type": "timestamp",
        "load_method": "append",
        **kwargs,
    }
    return TableJob("airbyte", props(count), "duckdb", {"path": str(warehouse)}, **values)


def ids(warehouse: Path, table: str = "users") -> list[int]:
    with duckdb.connect(str(warehouse)) as conn:
        return [row[0] for row in conn.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()]


def test_install_records_version_protocol_and_licence(faker: packages.InstalledConnector) -> None:
    assert (faker.name, faker.version, faker.protocol) == (
        "airbyte-source-faker",
        "7.2.1",
        "airbyte",
    )
    assert faker.executable == "source-faker"
    assert faker.license  # ELv2: listed so that a user sees it
    assert any(r.name == faker.name for r in packages.installed())
    with pytest.raises(packages.PackageError, match=r"asks for airbyte-source-faker==1\.0\.0"):
        packages.find("airbyte-source-faker==1.0.0")


def test_check_discover_and_a_failing_check() -> None:
    registry = default_registry()
    source = registry.open_source("airbyte", props(10))
    source.test()
    tables = {t.ref.name: t for t in source.discover()}
    assert {"users", "products", "purchases"} <= set(tables)
    users_table = tables["users"]
    assert users_table.primary_key == ("id",)
    types = {c.name: str(c.arrow_type) for c in users_table.columns}
    assert types["id"] == "int64"
    assert types["updated_at"] == "timestamp[us, tz=UTC]"
    assert next(c for c in users_table.columns if c.name == "address").semantic == "json"
    bad = registry.open_source("airbyte", props(-5))
    with pytest.raises((ConnectionFailed, ConfigurationError)) as failed:
        bad.test()
    assert "check failed" in str(failed.value) or "count" in str(failed.value)


def test_full_refresh_then_incremental_appends_only_new(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    full = run_table_job(
        job(120, warehouse, extract_method="all", load_method="overwrite", target_table="everyone")
    )
    assert full.rows == 120
    assert ids(warehouse, "everyone") == list(range(1, 121))
    first = run_table_job(job(120, warehouse))
    assert first.rows == 120 and first.cursor_value
    assert json.loads(first.cursor_value)["message"]["type"] == "STREAM"
    again = run_table_job(job(150, warehouse))
    assert again.rows == 0  # the committed state says every record was emitted
    assert ids(warehouse) == list(range(1, 121))
    refreshed = run_table_job(
        job(150, warehouse, extract_method="all", load_method="overwrite", target_table="everyone")
    )
    assert refreshed.rows == 150 and ids(warehouse, "everyone") == list(range(1, 151))


KILL_SCRIPT = """
import json, sys
from headwater.engine import TableJob, run_table_job
job = TableJob("airbyte", json.loads(sys.argv[1]), "duckdb", {"path": sys.argv[2]},
               source_table="users", target_table="users", extract_method="incremental",
               cursor_column="updated_at", cursor_type="timestamp", load_method="append",
               batch_bytes=1024 * 400, source_options=json.loads(sys.argv[3]))
def progress(rows, size):
    if rows:
        print("rows", rows, flush=True)
def log(level, message):
    if "state point" in message:
        print("committed", message, flush=True)
run_table_job(job, progress=progress, log=log)
print("finished", flush=True)
"""


def killed_run(warehouse: Path, count: int, options: dict[str, Any], wait_for: str) -> str:
    """Start a run in a child process, SIGKILL it (and its connector) at the first output line
    starting with ``wait_for``; that line."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILL_SCRIPT,
            json.dumps(props(count)),
            str(warehouse),
            json.dumps(options),
        ],
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
        if line.startswith(wait_for) or not line:
            break
    os.killpg(child.pid, signal.SIGKILL)  # the run and its connector child, mid-stream
    child.wait(30)
    child.stdout.close()
    assert line.startswith(wait_for), f"the run never got to {wait_for!r}: {line!r}"
    return line


def committed_state(warehouse: Path) -> dict[str, Any] | None:
    target = default_registry().open_target("duckdb", {"path": str(warehouse)})
    schema = target.default_schema()
    state = target.read_state(schema, job(1, warehouse).resolved_state_key(schema))
    return None if state is None else json.loads(str(state.value))


def test_a_killed_run_before_its_first_state_point_loads_nothing(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    killed_run(warehouse, 3000, {}, "rows")  # default: a state point only every 100,000
    with duckdb.connect(str(warehouse)) as conn:  # nothing of the killed run is visible
        tables = conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert ("users",) not in tables
    resumed = run_table_job(job(3000, warehouse))
    assert resumed.rows == 3000
    assert ids(warehouse) == list(range(1, 3001))
    assert run_table_job(job(3000, warehouse)).rows == 0


def test_a_killed_run_keeps_its_state_points(tmp_path: Path) -> None:
    """Resuming exactly is tested with the Singer tap: faker's users stream treats any state
    with ``updated_at`` as "all emitted" (it never resumes from ``loop_offset``)."""
    warehouse = tmp_path / "w.duckdb"
    count = 20_000
    killed_run(warehouse, count, {"commit_records": 1000}, "committed")
    kept = ids(warehouse)
    # the committed transactions hold whole state points: ids 1..n and the STATE that came
    # after record n (faker's loop_offset in it lags up to one slice of 100 behind)
    assert kept and kept == list(range(1, len(kept) + 1))
    assert len(kept) >= 1000 and len(kept) < count
    state = committed_state(warehouse)
    assert state is not None and state["message"]["type"] == "STREAM"
    offset = state["message"]["stream"]["stream_state"]["loop_offset"]
    assert len(kept) - 100 <= offset <= len(kept)


def test_an_overwrite_never_commits_part_of_the_table(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    options = {"commit_records": 100, "commit_seconds": 0.001}
    lines: list[str] = []
    result = run_table_job(
        job(2000, warehouse, load_method="overwrite", source_options=options),
        log=lambda level, message: lines.append(message),
    )
    assert result.rows == 2000 and ids(warehouse) == list(range(1, 2001))
    assert not [m for m in lines if "state point" in m]
    appended = run_table_job(
        job(2500, warehouse, target_table="log", source_options=options),
        log=lambda level, message: lines.append(message),
    )
    assert appended.rows == 2500 and ids(warehouse, "log") == list(range(1, 2501))
    assert len([m for m in lines if "state point" in m]) >= 10


def test_a_connector_that_fails_changes_nothing(tmp_path: Path) -> None:
    warehouse = tmp_path / "w.duckdb"
    assert run_table_job(job(50, warehouse)).rows == 50
    broken = TableJob(
        "airbyte",
        {**props(80), "config": '{"count": "many"}'},
        "duckdb",
        {"path": str(warehouse)},
        source_table="users",
        target_table="users",
        extract_method="incremental",
        cursor_column="updated_at",
        cursor_type="timestamp",
        load_method="append",
    )
    with pytest.raises(JobFailed) as failed:
        run_table_job(broken)
    assert "failed" in str(failed.value)
    assert ids(warehouse) == list(range(1, 51))


def test_an_uninstallable_package_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_CONNECTORS_DIR", str(tmp_path / "connectors"))
    with pytest.raises(packages.PackageError, match="installing airbyte-source-headwater-nope"):
        packages.install("airbyte-source-headwater-nope==0.0.1", index=str(tmp_path))
    assert packages.installed() == []
    with pytest.raises(packages.PackageError, match="headwater connectors install"):
        packages.find("airbyte-source-headwater-nope")


def test_the_cli_installs_lists_and_uninstalls(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from headwater.cli.main import app

    runner = CliRunner()
    installed = runner.invoke(app, ["connectors", "install", "--quiet", FAKER])
    assert installed.exit_code == 0, installed.output
    assert "airbyte-source-faker 7.2.1 installed (airbyte, licence ELv2)" in installed.output
    listed = runner.invoke(app, ["connectors", "list"])
    assert listed.exit_code == 0
    line = next(x for x in listed.output.splitlines() if x.startswith("airbyte-source-faker"))
    assert "7.2.1\tairbyte\tELv2" in line
    missing = runner.invoke(app, ["connectors", "uninstall", "tap-headwater-never-installed"])
    assert missing.exit_code == 1
    assert "is not installed" in missing.output
