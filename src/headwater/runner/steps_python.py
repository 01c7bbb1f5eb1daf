"""The ``python`` logic step: a user's function, called in a separate, limited process.

``function(variables)`` runs in ``sys.executable -I`` (isolated mode: no ``PYTHON*``
environment, no user site, no script directory on the path) with an environment of its own
(no ``HEADWATER_*`` settings, no secret key), a temporary working directory removed afterwards,
an address-space limit of ``memory_mb`` and a kill after ``timeout_seconds``. The argument is a
dict of the run's variables; the connections the step names (and only those) are in it under
``_connections``, keyed by connection id, each ``{"type", "properties", "dsn"}``. Its
JSON-serialisable return value is the step's ``output``; when it is a dict, each key that is a
variable name sets that variable for later steps. The script's stdout and stderr (a traceback
included) are copied into the run log.

With ``HEADWATER_CODE_STEP_USER`` set (and the worker running as root) the child runs as that
OS user, so it cannot read the worker's files (the data dir, the secret key).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.connectors.postgres.conn import adbc_uri
from headwater.runner.river_plans import RunPlan
from headwater.runner.step_process import Log, run_child
from headwater.runner.variables import Scope
from headwater.schemas.rivers_logic import PythonStep
from headwater.security.crypto import MASK
from headwater.settings import Settings

SANDBOX = Path(__file__).with_name("python_sandbox.py")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_OUTPUT_BYTES = 1_000_000
CONNECTIONS_KEY = "_connections"


class PythonStepFailed(Exception):
    """The function raised, ran out of time or memory, or returned something unusable."""


@dataclass
class PythonResult:
    output: dict[str, Any] = field(default_factory=dict)


def connection_argument(connection_type: str, props: dict[str, Any]) -> dict[str, Any]:
    """What the function gets for one connection: type, properties (secrets open) and, where
    the type has one, a DSN it can hand to a driver."""
    dsn: str | None = None
    if connection_type == "postgres":
        dsn = adbc_uri(props)
    elif connection_type == "duckdb":
        dsn = str(props.get("path") or "")
    return {"type": connection_type, "properties": dict(props), "dsn": dsn}


def child_environment(home: Path) -> dict[str, str]:
    """A minimal environment: nothing of the worker's (no HEADWATER_*, no cloud credentials)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home)}


def run_python_step(
    step: PythonStep,
    scope: Scope,
    plan: RunPlan,
    *,
    log: Log,
    cancel: Any,
    code_user: str | None,
    protected: list[str] | None = None,
) -> PythonResult:
    """Run the step's function in the sandbox child; ``protected``: paths (the data dir, the
    metadata DB file) the script may not touch."""
    argument: dict[str, Any] = scope.snapshot()
    if step.connection_ids:
        argument[CONNECTIONS_KEY] = {
            connection_id: connection_argument(*plan.connection(connection_id))
            for connection_id in step.connection_ids
        }
    request = {
        "script": step.script,
        "function": step.function,
        "argument": argument,
        "memory_mb": step.memory_mb,
        "protected": list(protected or []),
    }
    try:
        payload = json.dumps(request, default=str).encode()
    except ValueError as exc:
        raise PythonStepFailed(f"the variables cannot be passed as JSON: {exc}") from None
    workdir = Path(tempfile.mkdtemp(prefix="headwater-python-"))
    try:
        if code_user:
            entry = pwd.getpwnam(code_user)
            os.chown(workdir, entry.pw_uid, entry.pw_gid)
        result_path = workdir / "result.json"
        finished = run_child(
            [sys.executable, "-I", "-X", "utf8", str(SANDBOX), str(result_path)],
            env=child_environment(workdir),
            cwd=workdir,
            log=log,
            cancel=cancel,
            prefix="python: ",
            stdin=payload,
            timeout_seconds=step.timeout_seconds,
            user=code_user,
        )
        result = _read_result(result_path, finished.returncode, step)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return PythonResult(output=_apply(result, step, scope))


def _read_result(path: Path, returncode: int, step: PythonStep) -> Any:
    if not path.exists():
        if returncode < 0:
            raise PythonStepFailed(
                f"the process was killed by signal {-returncode} (memory limit "
                f"{step.memory_mb} MB?)"
            )
        raise PythonStepFailed(f"the process exited with code {returncode} and no result")
    if path.stat().st_size > MAX_OUTPUT_BYTES:
        raise PythonStepFailed(f"the return value is larger than {MAX_OUTPUT_BYTES} bytes of JSON")
    result = json.loads(path.read_text(encoding="utf-8"))
    if result.get("ok"):
        return result.get("value")
    error = str(result.get("error") or "failed")
    if result.get("kind") == "memory":
        raise PythonStepFailed(f"exceeded its memory limit of {step.memory_mb} MB ({error})")
    raise PythonStepFailed(error)


def _apply(value: Any, step: PythonStep, scope: Scope) -> dict[str, Any]:
    """Set variables from a returned dict; the step's output is the value (private masked)."""
    missing = [
        name for name in step.output_variables if not isinstance(value, dict) or name not in value
    ]
    if missing:
        raise PythonStepFailed(f"the function did not return output_variables {', '.join(missing)}")
    if not isinstance(value, dict):
        return {"result": value}
    shown: dict[str, Any] = {}
    set_names: list[str] = []
    for key, item in value.items():
        if VARIABLE_NAME.match(key) and key != CONNECTIONS_KEY:
            scope.set(key, item)
            set_names.append(key)
        shown[key] = MASK if scope.is_private(key) else item
    return {"result": shown, "variables": set_names}


def protected_paths(settings: Settings) -> list[str]:
    """What a python step may never touch: the data dir (metadata SQLite file, secret key,
    connector and dbt environments) and a metadata SQLite file kept elsewhere."""
    paths = [str(settings.resolved_data_dir())]
    url = settings.resolved_database_url()
    if url.startswith("sqlite:///"):
        paths.append(url.removeprefix("sqlite:///"))
    return paths
