"""A virtualenv per set of requirements, built once, under a file lock.

Third-party tools (dbt, Airbyte sources, Singer taps) pin dependencies that fight Headwater's
and each other's (``airbyte-cdk<1`` beside ``airbyte-cdk>=6``), so each gets an environment
of its own. :func:`ensure_venv` creates one from ``pip install`` arguments the first time it
is asked for and marks it ready only when pip succeeded; a lock file beside the venv keeps two
processes (two workers, the API and the CLI) from building the same one at once, and a venv
left half-built by a crash is removed and built again.

Running pip is the caller's: a run streams pip's output into its run log through
``runner.step_process``, the CLI prints it. :func:`pip_env` is the environment pip gets: PATH,
HOME and the operator's pip settings (index, find-links, certificates), nothing else.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

READY_MARKER = ".headwater-ready"
PIP_SETTINGS = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CERT",
    "PIP_CONSTRAINT",
    "PIP_NO_INDEX",
)

#: Runs pip: ``(argv, env, cwd) -> exit code``.
PipRunner = Callable[[Sequence[str], Mapping[str, str], Path], int]


class VenvError(Exception):
    """A virtualenv could not be built; the message says what failed."""


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def is_ready(venv: Path) -> bool:
    return (venv / READY_MARKER).exists()


def pip_env(home: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    for name in PIP_SETTINGS:
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def own_pip() -> bool:
    """Whether Headwater's interpreter has pip: it then installs into each venv with
    ``--python`` and the venvs are created without pip (seconds faster each)."""
    return importlib.util.find_spec("pip") is not None


def pip_command(venv: Path) -> list[str]:
    runner = [sys.executable, "-m", "pip", "--python", str(venv_python(venv))]
    if not own_pip():
        runner = [str(venv_python(venv)), "-m", "pip"]
    return [*runner, "install", "--quiet", "--disable-pip-version-check"]


def ensure_venv(
    venv: Path,
    install_args: Sequence[str],
    run_pip: PipRunner,
    *,
    marker_text: str = "",
    python: str = sys.executable,
    after_create: Callable[[Path], None] | None = None,
) -> Path:
    """The venv's Python, creating the venv with ``pip install <install_args>`` when it is not
    ready. ``after_create`` runs between the venv's creation and the install (pre-pins)."""
    if is_ready(venv):
        return venv_python(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(venv):
            return venv_python(venv)
        shutil.rmtree(venv, ignore_errors=True)
        flags = ["--without-pip"] if own_pip() else []
        created = subprocess.run(
            [python, "-m", "venv", *flags, str(venv)], capture_output=True, text=True, check=False
        )
        if created.returncode != 0:
            raise VenvError(f"creating the virtualenv {venv} failed: {created.stderr.strip()}")
        if after_create is not None:
            after_create(venv)
        code = run_pip([*pip_command(venv), *install_args], pip_env(venv.parent), venv)
        if code != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise VenvError(f"pip install {' '.join(install_args)} failed (exit code {code})")
        (venv / READY_MARKER).write_text(marker_text)
    return venv_python(venv)
