"""`headwater run`: through a live API with --wait, and --local without a server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import TOKEN_SCOPES, Api, checksum, fill_table, make_cluster

pytestmark = pytest.mark.slow


def _headwater(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_run_wait_exit_codes_and_local(tmp_path: Path, pg_databases: dict[str, str]) -> None:
    fill_table(pg_databases["src"], "items", 3000)
    cluster = make_cluster(tmp_path, pg_databases)
    try:
        _, base = cluster.server()
        token = cluster.token(*TOKEN_SCOPES, "me:list")
        api = Api(base, token)
        source = api.pg_connection("src", pg_databases["src"].rsplit("/", 1)[1])
        target = api.pg_connection("dst", pg_databases["dst"].rsplit("/", 1)[1])
        good = api.copy_river("good", source, target, {"name": "items"})
        bad = api.copy_river("bad", source, target, {"name": "missing_table"})
        local = api.copy_river(
            "local", source, target, {"name": "items", "details": {"target_table": "items_local"}}
        )
        api.close()
        env = {**cluster.env, "HEADWATER_TOKEN": token["token"]}

        ok = _headwater(env, tmp_path, "run", good, "--wait", "--url", base)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "final status: succeeded" in ok.stdout
        assert checksum(pg_databases["dst"], "items") == checksum(pg_databases["src"], "items")

        failed = _headwater(env, tmp_path, "run", bad, "--wait", "--url", base)
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "final status: failed" in failed.stdout
        assert "missing_table" in failed.stderr  # the live table shows the error

        no_token = _headwater(cluster.env, tmp_path, "run", good, "--url", base)
        assert no_token.returncode != 0 and "token" in no_token.stderr

        # By name through the API; a token without river:execute gets one line naming it.
        by_name = _headwater(env, tmp_path, "run", "local", "--wait", "--url", base)
        assert by_name.returncode == 0, by_name.stdout + by_name.stderr
        narrow = cluster.token("me:list", "river:list")
        refused = _headwater(
            {**cluster.env, "HEADWATER_TOKEN": narrow["token"]},
            tmp_path,
            "run",
            "good",
            "--url",
            base,
        )
        assert refused.returncode == 1
        lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "'river:execute'" in lines[0], refused.stderr
    finally:
        cluster.stop_all()
    offline = _headwater(cluster.env, tmp_path, "run", local, "--local")
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert checksum(pg_databases["dst"], "items_local") == checksum(pg_databases["src"], "items")
