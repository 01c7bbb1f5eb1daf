"""Connector package installs started from the API: in a thread, never in a request.

``pip install`` of an Airbyte source takes minutes; the API answers 202 at once with an
install id and the console polls it for progress (pip's last lines) and the outcome. Installs
of the same package run one at a time (the venv's file lock would serialise them anyway;
here a second request gets 409 instead of waiting). What is installed is read from the
connectors dir itself (``connectors.bridges.packages``), so the CLI's installs show too.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from headwater.connectors.bridges import packages
from headwater.errors import Conflict, Forbidden, InvalidInput, NotFound
from headwater.schemas.connector_packages import REQUIREMENT_PATTERN
from headwater.settings import Settings

#: A name, optional extras, optional version specifiers: what PyPI serves, nothing else.
REQUIREMENT = re.compile(REQUIREMENT_PATTERN)
MAX_LINES = 200
MAX_KEPT = 50


@dataclass
class InstallJob:
    id: str
    package: str
    name: str
    status: str = "running"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    version: str | None = None
    error: str | None = None
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_LINES))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "package": self.package,
            "name": self.name,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "version": self.version,
            "error": self.error,
            "progress": list(self.lines),
        }


class Installer:
    """The API process's installs, kept in memory (the result itself is on disk)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jobs: dict[str, InstallJob] = {}
        self._lock = threading.Lock()

    def start(self, package: str) -> InstallJob:
        """Start installing ``package`` (a PyPI requirement: name and version specifiers
        only; URLs and local paths are the CLI's, where the operator types them)."""
        if not self.settings.connectors_api_install:
            raise Forbidden(
                "installing connector packages from the API is off on this server: set "
                "HEADWATER_CONNECTORS_API_INSTALL=true, or run `headwater connectors install`"
            )
        if not REQUIREMENT.match(package.strip()):
            raise InvalidInput(
                "package must be a PyPI requirement such as airbyte-source-faker==7.2.1"
            )
        name = packages.canonical_name(package)
        with self._lock:
            if any(j.name == name and j.status == "running" for j in self._jobs.values()):
                raise Conflict(f"{name} is being installed already")
            job = InstallJob(id=uuid.uuid4().hex, package=package.strip(), name=name)
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.status != "running"]
            for old in finished[: max(0, len(self._jobs) - MAX_KEPT)]:
                self._jobs.pop(old.id, None)
        thread = threading.Thread(target=self._run, args=(job,), name="headwater-connector-install")
        thread.daemon = True
        thread.start()
        return job

    def _run(self, job: InstallJob) -> None:
        try:
            record = packages.install(job.package, settings=self.settings, log=job.lines.append)
        except Exception as exc:  # reported on the job; the thread must not die silently
            job.error = str(exc)
            job.status = "failed"
        else:
            job.version = record.version
            job.status = "succeeded"
        job.finished_at = datetime.now(UTC)

    def get(self, install_id: str) -> InstallJob:
        job = self._jobs.get(install_id)
        if job is None:
            raise NotFound("no such connector install")
        return job

    def jobs(self) -> list[InstallJob]:
        return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)

    def installed(self) -> list[dict[str, Any]]:
        return [vars(r) for r in packages.installed(self.settings)]

    def uninstall(self, name: str) -> dict[str, Any]:
        try:
            canonical = packages.canonical_name(name)
            with self._lock:
                if any(j.name == canonical and j.status == "running" for j in self._jobs.values()):
                    raise Conflict(f"{name} is being installed; wait for the install to finish")
            return vars(packages.uninstall(canonical, self.settings))
        except packages.PackageError as exc:
            raise NotFound(str(exc)) from None
