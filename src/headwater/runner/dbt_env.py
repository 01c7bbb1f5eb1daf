"""Where a ``dbt`` step runs: dbt's own virtualenv, the project, and the run's ``profiles.yml``.

dbt is never installed into Headwater's environment (its pins would fight ours). On first use
a virtualenv is created under ``<data dir>/tools/dbt-<hash>`` from ``dbt_requirements.txt``
(pinned dbt-core and adapters), keyed by the file's hash so a new pin gets a new venv; a
file lock keeps two workers from building it at once. ``HEADWATER_DBT_VENV`` names an existing
one instead.

The project is copied (a host path) or shallow-fetched with git (an https or ssh URL, its host
checked against the outbound policy of ``security.ssrf``; ``file://`` only in development
mode) into a directory of the run under the data dir, so runs never share ``target/``.
The ``profiles.yml`` defines the profile the project's ``dbt_project.yml`` names, from the
step's connection, in a 0700 directory with a 0600 file, deleted with the run directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from headwater.connectors.bridges.venvs import VenvError, is_ready, venv_python
from headwater.connectors.bridges.venvs import ensure_venv as shared_ensure_venv
from headwater.connectors.postgres import conn as pg_conn
from headwater.runner.step_process import Log, run_child
from headwater.security.ssrf import OutboundPolicy
from headwater.settings import Settings

REQUIREMENTS = Path(__file__).with_name("dbt_requirements.txt")
PROFILE_TARGET = "headwater"
SUPPORTED_TYPES = ("postgres", "duckdb")
#: ``user@host:path``; neither part may start with ``-`` (ssh would read an option).
_SCP_URL = re.compile(
    r"^(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*):(?P<path>[^-].*)$"
)


class DbtSetupError(Exception):
    """The dbt environment, project or profile could not be prepared; says what to fix."""


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


def default_venv(settings: Settings) -> Path:
    return settings.resolved_data_dir() / "tools" / f"dbt-{requirements_hash()}"


def ensure_venv(venv: Path, log: Log, cancel: threading.Event) -> Path:
    """The venv's Python, creating the venv from the pinned requirements when it is missing."""
    if not is_ready(venv):
        log("INFO", f"dbt: installing dbt into {venv} (first use; takes a few minutes)")

    def run_pip(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> int:
        return run_child(argv, env=env, cwd=cwd, log=log, cancel=cancel, prefix="pip: ").returncode

    try:
        return shared_ensure_venv(
            venv, ["-r", str(REQUIREMENTS)], run_pip, marker_text=REQUIREMENTS.read_text()
        )
    except VenvError as exc:
        raise DbtSetupError(f"installing dbt failed: {exc}") from None


def dbt_python(settings: Settings, log: Log, cancel: threading.Event) -> Path:
    if settings.dbt_venv is not None:
        python = venv_python(settings.dbt_venv.expanduser())
        if not python.exists():
            raise DbtSetupError(f"HEADWATER_DBT_VENV {settings.dbt_venv} has no bin/python")
        return python
    return ensure_venv(default_venv(settings), log, cancel)


# -- the project -------------------------------------------------------------------------------


def copy_project(settings: Settings, project_dir: str, into: Path) -> Path:
    source = Path(project_dir).resolve()
    root = settings.dbt_projects_dir
    if root is not None and not source.is_relative_to(root.expanduser().resolve()):
        raise DbtSetupError(
            f"project_dir {project_dir} is outside HEADWATER_DBT_PROJECTS_DIR ({root})"
        )
    if not (source / "dbt_project.yml").is_file():
        raise DbtSetupError(f"project_dir {project_dir} has no dbt_project.yml")
    target = into / "project"
    shutil.copytree(
        source, target, ignore=shutil.ignore_patterns("target", "logs", ".git"), symlinks=True
    )
    return target


def check_git_url(url: str, settings: Settings) -> None:
    """https and ssh URLs whose host the outbound policy allows; ``file://`` in development."""
    if url.startswith("-"):
        raise DbtSetupError("git_url must be an https or ssh URL")
    scp = _SCP_URL.match(url)
    if scp:
        host = scp.group("host")
    else:
        parts = urlsplit(url)
        if parts.scheme == "file" and settings.mode == "development":
            return
        if parts.scheme not in {"https", "ssh"} or not parts.hostname:
            raise DbtSetupError(
                f"git_url must be an https or ssh URL (file:// only in development mode): {url!r}"
            )
        host = parts.hostname
    try:
        OutboundPolicy.from_settings(settings).check(f"https://{host}/")
    except Exception as exc:
        raise DbtSetupError(str(exc)) from None


def fetch_project(
    settings: Settings, url: str, ref: str, subdirectory: str, into: Path, log: Log, cancel: Any
) -> Path:
    check_git_url(url, settings)
    checkout = into / "repository"
    checkout.mkdir()
    protocols = "https:ssh:file" if settings.mode == "development" else "https:ssh"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(into),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": protocols,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    for argv in (
        ["git", "init", "--quiet", "."],
        ["git", "fetch", "--quiet", "--depth", "1", "--", url, ref],
        ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", "FETCH_HEAD"],
    ):
        finished = run_child(argv, env=env, cwd=checkout, log=log, cancel=cancel, prefix="git: ")
        if finished.returncode != 0:
            raise DbtSetupError(f"fetching {ref!r} of the dbt project failed ({argv[1]})")
    project = (checkout / subdirectory).resolve()
    if (
        not project.is_relative_to(checkout.resolve())
        or not (project / "dbt_project.yml").is_file()
    ):
        raise DbtSetupError(f"the repository has no dbt_project.yml in {subdirectory or '/'!r}")
    return project


# -- profiles.yml ------------------------------------------------------------------------------


def profile_name(project: Path) -> str:
    try:
        config = yaml.safe_load((project / "dbt_project.yml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DbtSetupError(f"dbt_project.yml cannot be read: {exc}") from None
    name = config.get("profile") if isinstance(config, dict) else None
    if not isinstance(name, str) or not name:
        raise DbtSetupError("dbt_project.yml names no profile: add `profile: <name>`")
    return name


def profile_target(
    connection_type: str, props: dict[str, Any], application_name: str = "dbt"
) -> dict[str, Any]:
    """The dbt target for a connection: what dbt-postgres or dbt-duckdb reads.

    ``application_name`` marks dbt's PostgreSQL sessions, so that queries dbt leaves running
    when it is stopped can be found and cancelled (:func:`cancel_left_queries`)."""
    if connection_type == "postgres":
        return {
            "type": "postgres",
            "host": str(props.get("host") or "localhost"),
            "port": int(props.get("port") or 5432),
            "user": str(props["username"]),
            "password": str(props.get("password") or ""),
            "dbname": str(props["database"]),
            "schema": str(props.get("schema") or "public"),
            "sslmode": str(props.get("sslmode") or "prefer"),
            "threads": 4,
            "application_name": application_name,
        }
    if connection_type == "duckdb":
        # Absolute: dbt runs in the project's directory, Headwater resolves from its own.
        return {"type": "duckdb", "path": os.path.abspath(str(props["path"])), "threads": 1}
    raise DbtSetupError(
        f"dbt steps support {' and '.join(SUPPORTED_TYPES)} connections; "
        f"{connection_type!r} is not supported yet"
    )


def write_profiles(
    into: Path,
    profile: str,
    connection_type: str,
    props: dict[str, Any],
    application_name: str = "dbt",
) -> Path:
    """A 0700 directory holding a 0600 profiles.yml with one target, ``headwater``."""
    directory = into / "profiles"
    directory.mkdir(mode=0o700)
    target = profile_target(connection_type, props, application_name)
    content = {profile: {"target": PROFILE_TARGET, "outputs": {PROFILE_TARGET: target}}}
    path = directory / "profiles.yml"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        yaml.safe_dump(content, handle)
    return directory


def application_name_for(run_id: str) -> str:
    """What dbt's PostgreSQL sessions of one run call themselves (at most 63 bytes)."""
    return f"headwater-dbt-{run_id}"[:63]


def cancel_left_queries(
    connection_type: str, props: dict[str, Any], application_name: str, log: Log
) -> int:
    """Cancel the queries a stopped dbt left running on a PostgreSQL target.

    dbt cancels its queries itself when it gets SIGINT, but not when it is killed: on a loaded
    machine it may not finish within the grace period, and after a timeout it gets SIGTERM.
    Its sessions would then keep running (a model's query for as long as it takes). They are
    found by the run's ``application_name`` and cancelled with the connection's own user, who
    may cancel its own sessions. Returns how many were cancelled; never raises."""
    if connection_type != "postgres":
        return 0
    try:
        with pg_conn.connect(props, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid() AND state = 'active'",
                (application_name,),
            ).fetchall()
    except Exception as exc:  # best effort: the run's outcome is already decided
        log("WARNING", f"dbt: could not cancel the queries dbt left running: {exc}")
        return 0
    cancelled = sum(1 for (done,) in rows if done)
    if cancelled:
        log("INFO", f"dbt: cancelled {cancelled} query(ies) dbt left running on the target")
    return cancelled
