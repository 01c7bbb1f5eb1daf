"""Connector packages for the bridge tests, installed once into a cache shared by test runs.

``HEADWATER_CONNECTORS_DIR`` points at ``~/.cache/headwater-test-venvs/connectors`` (or
``$HEADWATER_TEST_VENVS/connectors``): the first run installs from PyPI (minutes), later runs
find the venvs ready. ``packages.install`` locks each venv, so parallel workers wait for one
build instead of racing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from headwater.connectors.bridges import packages

FAKER = "airbyte-source-faker==7.2.1"
CACHE = Path(
    os.environ.get("HEADWATER_TEST_VENVS") or Path.home() / ".cache" / "headwater-test-venvs"
)
CONNECTORS = CACHE / "connectors"
TAP_SOURCE = Path(__file__).with_name("tap_hwtest")
#: A long install (first run, PyPI); pytest's default timeout is for tests, not for this.
INSTALL_TIMEOUT = 1800


def use_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWATER_CONNECTORS_DIR", str(CONNECTORS))


def install(requirement: str) -> packages.InstalledConnector:
    lines: list[str] = []
    try:
        return packages.install(requirement, log=lines.append)
    except packages.PackageError as exc:
        raise AssertionError(f"{exc}\n" + "\n".join(lines[-30:])) from None


def tap_requirement() -> str:
    """The test tap as a ``name @ file://`` requirement of a copy named by its content hash
    (a changed tap gets a new venv)."""
    digest = hashlib.sha256()
    for path in sorted(TAP_SOURCE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(TAP_SOURCE).as_posix().encode())
            digest.update(path.read_bytes())
    copy = CACHE / "sources" / f"tap-hwtest-{digest.hexdigest()[:12]}"
    if not copy.exists():
        staging = copy.with_name(copy.name + f".tmp{os.getpid()}")
        shutil.copytree(TAP_SOURCE, staging, ignore=shutil.ignore_patterns("__pycache__"))
        try:
            staging.rename(copy)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    return f"tap-hwtest @ file://{copy}"
