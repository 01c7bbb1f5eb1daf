"""A fakesnow HTTP server for the Snowflake tests, run from its own cached virtualenv.

fakesnow brings its own DuckDB and sqlglot pins, so it lives in a venv under
``~/.cache/headwater-test-venvs/fakesnow-<hash of fakesnow_requirements.txt>`` (built once,
under a file lock, like the dbt venv) and runs as a child process on a free loopback port. The
real ``snowflake-connector-python`` of the main venv talks to it over HTTP: nothing in the
process under test is patched.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REQUIREMENTS = Path(__file__).with_name("fakesnow_requirements.txt")
CACHE = Path(os.environ.get("HEADWATER_TEST_VENVS", "~/.cache/headwater-test-venvs")).expanduser()
READY = ".headwater-ready"


def venv_path() -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    return CACHE / f"fakesnow-{digest}"


def ensure_venv() -> Path:
    """The fakesnow venv's python, building the venv on first use."""
    venv = venv_path()
    python = venv / "bin" / "python"
    if (venv / READY).exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / READY).exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
        (venv / READY).write_text(REQUIREMENTS.read_text())
    return python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def fakesnow_server(log_path: Path) -> Iterator[int]:
    """Start ``fakesnow -s`` on a free port; yield the port; stop it."""
    python = ensure_venv()
    port = _free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(python), "-m", "fakesnow", "-s", "--host", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"fakesnow did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield port
    finally:
        process.kill()  # in-memory data only; a graceful stop waits for idle keep-alives
        process.wait()


def snowflake_props(port: int, **extra: Any) -> dict[str, Any]:
    """Connection properties of a fresh database on the fakesnow server."""
    return {
        "account": "fakesnow",
        "user": "hw",
        "password": "secret",
        "database": f"hw_{uuid.uuid4().hex[:10]}",
        "schema": "hw_data",
        "host": "127.0.0.1",
        "port": port,
        "protocol": "http",
        **extra,
    }
