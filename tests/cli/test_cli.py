"""The console script: version, help, config, and `headwater up` as a real process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from headwater import __version__
from headwater.cli.main import app
from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"headwater {__version__}"


def test_help_lists_command_groups() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("up", "server", "config", "db"):
        assert command in result.output


def test_config_masks_secrets(tmp_path: Path) -> None:
    env = {
        "HEADWATER_DATA_DIR": str(tmp_path),
        "HEADWATER_DATABASE_URL": "postgresql://bob:hunter2@db/meta",
        "HEADWATER_SECRET_KEY": "super-secret-key-value",
    }
    result = runner.invoke(app, ["config", "--json"], env=env)
    assert result.exit_code == 0
    shown = json.loads(result.output)
    assert shown["secret_key"] == "***"
    assert "hunter2" not in result.output and "super-secret-key-value" not in result.output


def test_db_upgrade_creates_schema(tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"], env={"HEADWATER_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "headwater.db").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _headwater(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    full_env = {**os.environ, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "headwater", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(port: int, process: subprocess.Popen[str], limit: float = 15.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if process.poll() is not None:
            raise AssertionError(
                f"headwater exited early: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no healthy answer within {limit} s")


def _run_up_once(env: dict[str, str], cwd: Path) -> str:
    port = _free_port()
    process = _headwater(["up", "--port", str(port)], env, cwd)
    try:
        elapsed = _wait_healthy(port, process)
        assert elapsed < 15
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    return output


def _account_line(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("account "))


def test_up_serves_and_second_start_reuses(tmp_path: Path) -> None:
    env = {"HEADWATER_DATA_DIR": str(tmp_path / "data")}
    first = _run_up_once(env, tmp_path)
    assert "generated password" in first
    second = _run_up_once(env, tmp_path)
    assert "generated password" not in second
    assert _account_line(first) == _account_line(second)


def test_up_on_postgres(tmp_path: Path) -> None:
    require_service("postgres")
    url = create_pg_database("hw_cli")
    try:
        env = {
            "HEADWATER_DATA_DIR": str(tmp_path / "data"),
            "HEADWATER_DATABASE_URL": url.replace("+psycopg", ""),
            "HEADWATER_ADMIN_PASSWORD": "pw",
        }
        first = _run_up_once(env, tmp_path)
        assert "postgresql+psycopg://postgres@127.0.0.1:5432/" in first
        assert _account_line(first) == _account_line(_run_up_once(env, tmp_path))
    finally:
        drop_pg_database(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://bob:hunter2@127.0.0.1:1/meta",
            "postgresql+psycopg://bob:***@127.0.0.1:1/meta",
        ),
        ("not a url at all", "<unparseable database URL>"),
    ],
)
def test_up_with_unusable_database_is_one_line(tmp_path: Path, url: str, shown: str) -> None:
    process = _headwater(["up"], {"HEADWATER_DATABASE_URL": url}, tmp_path)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: cannot use the metadata database")
    assert shown in lines[0]
    assert "hunter2" not in output and "Traceback" not in output


def test_up_with_corrupt_sqlite_file_is_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not a database" * 100)
    process = _headwater(["up"], {"HEADWATER_DATABASE_URL": f"sqlite:///{corrupt}"}, tmp_path)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert len(output.strip().splitlines()) == 1
    assert str(corrupt) in output and "Traceback" not in output
