"""Connector packages (Airbyte sources, Singer taps) installed from PyPI, one venv each.

``headwater connectors install airbyte-source-faker==7.2.1`` builds
``<connectors dir>/<name>-<hash>/`` (see :mod:`.venvs`) and writes ``<name>.json`` beside it:
the requirement, the installed version, the licence, the protocol (``airbyte`` or ``singer``)
and the executable. Runs find the package through that file, never through Headwater's own
environment, so two connectors may pin incompatible versions of ``airbyte-cdk``.

Older taps pin ``singer-sdk`` releases that import ``pkg_resources``, which setuptools 81
removed: every connector venv is installed with ``setuptools<81`` beside the package.
A wheelhouse (``HEADWATER_CONNECTORS_INDEX_URL`` naming a directory, or ``--find-links``)
installs with ``--no-index`` for air-gapped servers.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from headwater.connectors.bridges.venvs import VenvError, ensure_venv, venv_python
from headwater.connectors.errors import ConfigurationError
from headwater.settings import Settings

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_PIN = re.compile(r"^==\s*([A-Za-z0-9.+!*-]+)$")
SETUPTOOLS_PIN = "setuptools<81"
Protocol = str

_INSPECT = """
import json, sys
from importlib import metadata
d = metadata.distribution(sys.argv[1])
scripts = [e.name for e in d.entry_points if e.group == "console_scripts"]
lic = d.metadata.get("License-Expression") or d.metadata.get("License") or ""
if not lic or len(lic) > 80:
    lic = next((c.split("::")[-1].strip() for c in d.metadata.get_all("Classifier") or []
                if c.startswith("License ::")), lic[:80])
print(json.dumps({"version": d.version, "license": lic, "scripts": scripts}))
"""


class PackageError(ConfigurationError):
    """A connector package cannot be installed, found or removed; says what to do."""


@dataclass
class InstalledConnector:
    """What ``<name>.json`` records about one installed connector package."""

    name: str
    requirement: str
    version: str
    protocol: Protocol
    executable: str
    venv: str
    license: str = ""
    scripts: list[str] = field(default_factory=list)
    streams: list[str] | None = None

    def bin(self, executable: str | None = None) -> Path:
        return Path(self.venv) / "bin" / (executable or self.executable)


def canonical_name(requirement: str) -> str:
    """The package name of a requirement, normalised as PyPI does (``Tap_Foo`` -> ``tap-foo``)."""
    match = _NAME.match(requirement or "")
    if not match:
        raise PackageError(f"{requirement!r} is not a package requirement (e.g. tap-github==1.0)")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def pinned_version(requirement: str) -> str | None:
    match = _NAME.match(requirement)
    pin = _PIN.match(match.group(3).strip()) if match else None
    return pin.group(1) if pin else None


def connectors_dir(settings: Settings | None = None) -> Path:
    return (settings or Settings()).resolved_connectors_dir()


def _metadata_path(root: Path, name: str) -> Path:
    return root / f"{name}.json"


def index_args(index: str | None) -> list[str]:
    """pip arguments for an index URL or a local wheelhouse directory."""
    if not index:
        return []
    if "://" not in index or index.startswith("file://"):
        path = index.removeprefix("file://")
        if Path(path).is_dir() and not (Path(path) / "simple").is_dir():
            return ["--no-index", "--find-links", path]
    return ["--index-url", index]


def guess_protocol(name: str, scripts: Sequence[str]) -> Protocol:
    if name.startswith("tap-") or any(s.startswith("tap-") for s in scripts):
        return "singer"
    return "airbyte"


def guess_executable(name: str, protocol: Protocol, scripts: Sequence[str]) -> str:
    """The console script that runs the connector (``airbyte-source-faker`` -> ``source-faker``)."""
    wanted = name.removeprefix("airbyte-") if protocol == "airbyte" else name
    if wanted in scripts:
        return wanted
    prefix = "source-" if protocol == "airbyte" else "tap-"
    candidates = [s for s in scripts if s.startswith(prefix)]
    if len(candidates) == 1:
        return candidates[0]
    return wanted


def _run_pip(log: Callable[[str], None]) -> Callable[[Sequence[str], Mapping[str, str], Path], int]:
    def run(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> int:
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert process.stdout is not None
        with process.stdout:
            for raw in iter(process.stdout.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip()
                if line and not line.startswith("WARNING: Location"):
                    log(f"pip: {line[:2000]}")
        return process.wait()

    return run


def install(
    requirement: str,
    *,
    settings: Settings | None = None,
    index: str | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> InstalledConnector:
    """Install ``requirement`` into a venv of its own (reusing one built for the same
    requirement and index) and record it; return the record."""
    settings = settings or Settings()
    name = canonical_name(requirement)
    requirement = requirement.strip()
    if requirement.startswith("-") or any(c in requirement for c in "\n\r\0;"):
        raise PackageError(f"{requirement!r} is not a package requirement")
    index = index if index is not None else settings.connectors_index_url
    root = connectors_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{requirement}\n{index or ''}".encode()).hexdigest()[:12]
    venv = root / f"{name}-{key}"
    log(f"installing {requirement} into {venv}")
    try:
        python = ensure_venv(
            venv,
            [*index_args(index), requirement, SETUPTOOLS_PIN],
            _run_pip(log),
            marker_text=requirement,
        )
    except VenvError as exc:
        raise PackageError(f"installing {requirement} failed: {exc}") from None
    inspected = subprocess.run(
        [str(python), "-c", _INSPECT, name], capture_output=True, text=True, check=False
    )
    if inspected.returncode != 0:
        raise PackageError(f"{requirement} installed but cannot be inspected: {inspected.stderr}")
    info = json.loads(inspected.stdout)
    scripts = list(info["scripts"])
    protocol = guess_protocol(name, scripts)
    record = InstalledConnector(
        name=name,
        requirement=requirement,
        version=str(info["version"]),
        protocol=protocol,
        executable=guess_executable(name, protocol, scripts),
        venv=str(venv),
        license=str(info["license"]),
        scripts=scripts,
    )
    previous = _read(root, name)
    if previous is not None and previous.venv != record.venv:
        shutil.rmtree(previous.venv, ignore_errors=True)
    _write(root, record)
    log(f"installed {name} {record.version} ({protocol}, runs {record.executable})")
    return record


def _read(root: Path, name: str) -> InstalledConnector | None:
    path = _metadata_path(root, name)
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return InstalledConnector(**data)


def _write(root: Path, record: InstalledConnector) -> None:
    path = _metadata_path(root, record.name)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2))
    temporary.replace(path)


def installed(settings: Settings | None = None) -> list[InstalledConnector]:
    root = connectors_dir(settings)
    if not root.is_dir():
        return []
    found = [_read(root, p.stem) for p in sorted(root.glob("*.json"))]
    return [r for r in found if r is not None and venv_python(Path(r.venv)).exists()]


def find(requirement: str, settings: Settings | None = None) -> InstalledConnector:
    """The installed package a connection names, or an error telling how to install it."""
    name = canonical_name(requirement)
    record = _read(connectors_dir(settings), name)
    if record is None or not venv_python(Path(record.venv)).exists():
        raise PackageError(
            f"the connector package {name} is not installed: run "
            f"`headwater connectors install '{requirement.strip()}'` (or install it from the "
            "console's Connectors page)"
        )
    pin = pinned_version(requirement)
    if pin is not None and pin != record.version:
        raise PackageError(
            f"the connection asks for {requirement.strip()} but {name} {record.version} is "
            f"installed: run `headwater connectors install '{requirement.strip()}'`"
        )
    return record


def remember_streams(record: InstalledConnector, streams: Sequence[str]) -> None:
    """Record the streams a discovery found (``connectors list`` shows them); best effort."""
    root = Path(record.venv).parent
    current = _read(root, record.name)
    if current is None or current.venv != record.venv:
        return
    current.streams = sorted(streams)
    try:
        _write(root, current)
    except OSError:
        return


def uninstall(name: str, settings: Settings | None = None) -> InstalledConnector:
    root = connectors_dir(settings)
    record = _read(root, canonical_name(name))
    if record is None:
        raise PackageError(f"the connector package {canonical_name(name)} is not installed")
    _metadata_path(root, record.name).unlink(missing_ok=True)
    shutil.rmtree(record.venv, ignore_errors=True)
    Path(f"{record.venv}.lock").unlink(missing_ok=True)
    return record
