"""rivery-cli 0.4.0, unmodified, connects to Headwater with a Headwater token.

``RiverySession.connect()`` calls ``GET {host}/api/me`` and keeps ``account_id`` and
``environment_id``; every later call of the client is built on those two values.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.clients.conftest import LiveServer

CONNECT = """
import json, os
from rivery_cli.rivery_session import RiverySession

session = RiverySession(token=os.environ["RIVERY_ACCESS_TOKEN"], host=os.environ["RIVERY_HOST"])
session.connect()
print(json.dumps({"account": session.account, "environment_id": session.environment_id}))
"""


def _connect(python: Path, server: LiveServer, token: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(server.data_dir),
        "RIVERY_ACCESS_TOKEN": token,
        "RIVERY_HOST": server.url,
    }
    return subprocess.run(
        [str(python), "-c", CONNECT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_connect_sets_account_and_environment(rivery_python: Path, live_server: LiveServer) -> None:
    minted = live_server.mint_token("me:list", "river:list", name="rivery-cli")
    result = _connect(rivery_python, live_server, minted["token"])
    assert result.returncode == 0, result.stderr
    connected = json.loads(result.stdout.strip().splitlines()[-1])
    assert connected == {
        "account": minted["account_id"],
        "environment_id": minted["environment_id"],
    }
    assert minted["token"] not in live_server.log()


def test_connect_fails_with_a_bad_deleted_or_unscoped_token(
    rivery_python: Path, live_server: LiveServer
) -> None:
    bad = _connect(rivery_python, live_server, "hwt_" + "x" * 43)
    assert bad.returncode != 0
    assert "Permissions Error" in bad.stderr

    unscoped = live_server.mint_token("river:list", name="no me:list")
    refused = _connect(rivery_python, live_server, unscoped["token"])
    assert refused.returncode != 0 and "Permissions Error" in refused.stderr

    doomed = live_server.mint_token("me:list", name="doomed")
    assert _connect(rivery_python, live_server, doomed["token"]).returncode == 0
    deleted = live_server.headwater("tokens", "delete", doomed["token_id"])
    assert deleted.returncode == 0, deleted.stderr
    gone = _connect(rivery_python, live_server, doomed["token"])
    assert gone.returncode != 0 and "Permissions Error" in gone.stderr
