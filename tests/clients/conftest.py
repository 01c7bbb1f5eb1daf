"""Real clients against a real server: a live ``headwater up`` and the clients' own venvs.

``live_server`` runs ``headwater up`` as a subprocess on a free port with a throwaway data dir
(SQLite); ``mint_token`` creates tokens the way an operator does, with
``headwater tokens create --json`` against the same data dir. ``rivery_python`` is the
interpreter of a venv holding ``rivery-cli`` 0.4.0 from PyPI, unmodified, created once under
``.venv-rivery-cli`` at the repo root (gitignored) and reused by later runs.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from tests._services import in_ci, require_service
from tests.clients.rivers_world import World, build_world
from tests.live import LiveServer, embedded_up

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
CLIENT_SOURCE = ROOT / "clients" / "python"


def _ensure_headwater_client() -> None:
    """``scripts/test.sh`` installs the client editable into the suite's venv; a venv made
    without it gets the same install here, before the test modules import the client."""
    if importlib.util.find_spec("headwater_client") is not None:
        return
    with FileLock(str(ROOT / ".venv-headwater-client.lock")):
        if importlib.util.find_spec("headwater_client") is None:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "-e",
                    str(CLIENT_SOURCE),
                ],
                check=True,
                capture_output=True,
                timeout=600,
            )
    # the editable install's .pth file is read at the next start; this process needs the path
    sys.path.insert(0, str(CLIENT_SOURCE / "src"))
    importlib.invalidate_caches()


_ensure_headwater_client()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``headwater up`` on a free port, for the whole session; stopped with SIGTERM."""
    with embedded_up(
        tmp_path_factory.mktemp("live"), HEADWATER_ADMIN_PASSWORD=ADMIN_PASSWORD
    ) as server:
        yield server


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


@pytest.fixture(scope="module")
def world(live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[World]:
    """Rivers on the live server loading real PostgreSQL (``rivers_world``), per test module."""
    require_service("postgres")
    with build_world(live_server, request.module.__name__.rsplit(".", 1)[-1]) as built:
        yield built
