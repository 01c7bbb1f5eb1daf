"""Clean environments for the Airflow, Dagster and Prefect integrations, and running a script in
one of them against a live server.

Each orchestrator pins dependencies that would fight Headwater's, so each gets a virtualenv of
its own under ``~/.cache/headwater-test-venvs/<name>-<hash>``, built once from
``integrations/<name>/requirements-test.txt`` (the hash is the file's, so a new pin builds a new
venv; a file lock keeps parallel workers from building it twice). The integration and the client
are then installed from this checkout into a per-test ``--target`` directory with
``pip install --no-deps --no-build-isolation``, so the cached venv is never changed and the
commands a user runs are the ones the suite runs (``INSTALL_COMMANDS`` keeps them for the
report).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from tests._services import in_ci

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("HEADWATER_TEST_VENVS", "~/.cache/headwater-test-venvs")).expanduser()
READY = ".headwater-ready"
SCRIPTS = Path(__file__).with_name("orchestrator_scripts")
#: The commands each test ran, shown in its output (``-rA``) and in failures.
INSTALL_COMMANDS: list[str] = []


DEPENDENCIES_MET = """
import importlib.metadata as md, sys
from packaging.requirements import Requirement
unmet = []
for dist in sys.argv[1:]:
    for line in md.requires(dist) or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            found = md.version(req.name)
        except md.PackageNotFoundError:
            unmet.append(f"{dist}: {line} (not installed)")
            continue
        if not req.specifier.contains(found, prereleases=True):
            unmet.append(f"{dist}: {line} (found {found})")
print("\\n".join(unmet))
sys.exit(1 if unmet else 0)
"""


def requirements(name: str) -> Path:
    return ROOT / "integrations" / name / "requirements-test.txt"


def venv_dir(name: str) -> Path:
    digest = hashlib.sha256(requirements(name).read_bytes()).hexdigest()[:16]
    return CACHE / f"{name}-{digest}"


def _pip(python: Path) -> list[str]:
    return [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


def orchestrator_python(name: str) -> Path:
    """The interpreter of the integration's clean venv, built on first use (minutes)."""
    venv = venv_dir(name)
    python = venv / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    with FileLock(str(CACHE / f"{venv.name}.lock")):
        if (venv / READY).exists():
            return python
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        command = [*_pip(python), "-r", str(requirements(name))]
        INSTALL_COMMANDS.append(" ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
        if done.returncode != 0:
            message = f"cannot build the {name} venv: {done.stderr[-2000:]}"
            if in_ci():
                pytest.fail(message)
            pytest.skip(message)
        (venv / READY).write_text(requirements(name).read_text())
    return python


def migrated_home(python: Path, command: list[str], home_variable: str) -> Path:
    """A home directory whose metadata DB ``command`` migrated, once per venv (under a lock).

    Airflow's ``db migrate`` and Prefect's ``server database upgrade`` each take about a minute;
    each test copies the migrated DB into its own home instead.
    """
    template = python.parent.parent / f"home-{command[0]}"
    with FileLock(f"{template}.lock"):
        if not (template / READY).exists():
            shutil.rmtree(template, ignore_errors=True)
            template.mkdir()
            environ = {
                "PATH": f"{python.parent}:/usr/bin:/bin",
                "HOME": os.environ.get("HOME", "/root"),
                "DO_NOT_TRACK": "1",
                home_variable: str(template),
            }
            done = subprocess.run(
                [str(python.parent / command[0]), *command[1:]],
                env=environ,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
            (template / READY).write_text(" ".join(command))
    return template


def install_integration(python: Path, name: str, target: Path) -> None:
    """The client and the integration from this checkout, into ``target`` (then on PYTHONPATH)."""
    command = [
        *_pip(python),
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(target),
        str(ROOT / "clients" / "python"),
        str(ROOT / "integrations" / name),
    ]
    INSTALL_COMMANDS.append(" ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}{done.stderr}"
    # --no-deps: the clean venv must already satisfy what both distributions declare
    dists = ["headwater-client", f"headwater-{name}"]
    check = subprocess.run(
        [str(python), "-c", DEPENDENCIES_MET, *dists],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, f"unmet dependencies in the {name} venv:\n{check.stdout}"


def run_script(
    python: Path, target: Path, script: Path, env: dict[str, str], timeout: float = 600
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``script`` in the venv with ``target`` on its path; the result and its seconds."""
    environ = {
        "PATH": f"{python.parent}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(target),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(python), str(script)],
        env=environ,
        cwd=target.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done, time.monotonic() - started


def prepared(name: str, tmp_path: Path) -> tuple[Path, Path]:
    """The integration's venv Python and a ``site`` directory holding this checkout's code."""
    python = orchestrator_python(name)
    site = tmp_path / "site"
    install_integration(python, name, site)
    return python, site


def script_result(python: Path, site: Path, script: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``script``; its ``RESULT {json}`` line, with ``output`` (the tail of what it printed,
    also kept in ``<script>.log`` beside ``site``) and ``seconds``."""
    done, seconds = run_script(python, site, script, env)
    output = done.stdout + done.stderr
    (site.parent / f"{script.stem}.log").write_text(output)
    assert done.returncode == 0, "\n".join(INSTALL_COMMANDS) + "\n" + output[-6000:]
    result: dict[str, Any] = json.loads(done.stdout.split("RESULT ", 1)[1].splitlines()[0])
    print(f"{script.name}: {seconds:.1f} s; installed with:", *INSTALL_COMMANDS, sep="\n  ")
    return {**result, "output": output[-6000:], "seconds": seconds}
