"""Real clients against a real server: a live ``headwater up`` and the clients' own venvs.

``live_server`` runs ``headwater up`` as a subprocess on a free port with a throwaway data dir
(SQLite); ``mint_token`` creates tokens the way an operator does, with
``headwater tokens create --json`` against the same data dir. ``rivery_python`` is the
interpreter of a venv holding ``rivery-cli`` 0.4.0 from PyPI, unmodified, created once under
``.venv-rivery-cli`` at the repo root (gitignored) and reused by later runs.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from filelock import FileLock

from tests._services import in_ci

ROOT = Path(__file__).resolve().parents[2]
RIVERY_VENV = ROOT / ".venv-rivery-cli"
RIVERY_CLI = "rivery-cli==0.4.0"
# Its declared dependencies no longer all install (jsonschema-extended fails to build), so it
# goes in with --no-deps, followed by what it imports at run time.
RIVERY_DEPS = [
    "click",
    "requests",
    "simplejson",
    "pyyaml",
    "bson",
    "click-spinner",
    "prettytable<3",
    "yaql",
    "jsonschema",
]
ADMIN_PASSWORD = "client-tests-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    data_dir: Path
    log_path: Path

    def headwater(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a ``headwater`` command against this server's metadata DB."""
        return subprocess.run(
            [sys.executable, "-m", "headwater", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def mint_token(self, *scopes: str, name: str = "client test") -> dict[str, str]:
        """``headwater tokens create --json``: the token and the ids it belongs to."""
        args = ["tokens", "create", "--name", name, "--json"]
        for scope in scopes:
            args += ["--scope", scope]
        result = self.headwater(*args)
        assert result.returncode == 0, result.stderr
        minted: dict[str, str] = json.loads(result.stdout)
        return minted

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"headwater up exited early:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"headwater up not healthy within {limit} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``headwater up`` on a free port, for the whole session; stopped with SIGTERM."""
    base = tmp_path_factory.mktemp("live")
    port = free_port()
    env = {
        **os.environ,
        "HEADWATER_DATA_DIR": str(base / "data"),
        "HEADWATER_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "HEADWATER_PUBLIC_URL": "",
    }
    env.pop("HEADWATER_DATABASE_URL", None)
    env.pop("HEADWATER_PUBLIC_URL")
    log_path = base / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", "up", "--port", str(port)],
            cwd=base,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log_path, 30)
        yield LiveServer(url=url, env=env, data_dir=base / "data", log_path=log_path)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import rivery_cli.rivery_session, bson, yaml, requests"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def _install(venv: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [
        str(_venv_python(venv)),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, "--no-deps", RIVERY_CLI], check=True, capture_output=True, timeout=600)
    subprocess.run([*pip, *RIVERY_DEPS], check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="session")
def rivery_python() -> Path:
    """The interpreter of the rivery-cli venv, installed from PyPI on first use.

    A file lock keeps parallel test workers from building the venv twice at once.
    """
    with FileLock(str(ROOT / ".venv-rivery-cli.lock")):
        return _rivery_python()


def _rivery_python() -> Path:
    python = _venv_python(RIVERY_VENV)
    if _works(python):
        return python
    try:
        _install(RIVERY_VENV)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        message = f"cannot install {RIVERY_CLI} from PyPI: {detail.decode(errors='replace')[-500:]}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    assert _works(python), f"{RIVERY_CLI} installed but does not import"
    return python
