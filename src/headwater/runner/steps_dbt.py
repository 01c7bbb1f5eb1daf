"""The ``dbt`` logic step: one dbt Core command on a project, against one of the run's
connections, with per-node results from ``run_results.json`` in the step's record.

dbt runs in its own virtualenv (``dbt_env``) as a child process in its own process group with a
minimal environment (no ``HEADWATER_*``), ``--profiles-dir`` pointing at the run's generated
profile and ``--target-path``/``--log-path`` inside the run directory; its log lines go to the
run log (the run's redactor masks the connection's password should dbt ever print it). Cancel
(or the river's run timeout) sends the group SIGINT, on which dbt cancels its running
queries and exits, and SIGKILL a few seconds later if it has not. A failing model, test, seed
or snapshot fails the step with its name; the results are kept in the record either way.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headwater.runner import dbt_env
from headwater.runner.contracts import RunCanceled
from headwater.runner.river_plans import RunPlan
from headwater.runner.step_process import Log, StepTimedOut, run_child
from headwater.runner.variables import Scope, render, render_json
from headwater.schemas.rivers_logic import DbtStep
from headwater.settings import Settings

#: dbt's entry point, run by the venv's Python (console scripts carry absolute shebangs).
DBT_MAIN = "import sys; from dbt.cli.main import cli; sys.argv[0] = 'dbt'; sys.exit(cli())"
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
ROW_TYPES = frozenset({"model", "seed", "snapshot"})
TAIL_LINES = 8


class DbtStepFailed(Exception):
    """dbt failed; ``output`` still holds the per-node results for the step's record."""

    def __init__(self, message: str, output: dict[str, Any]) -> None:
        super().__init__(message)
        self.output = output


@dataclass
class DbtResult:
    rows: int = 0
    output: dict[str, Any] = field(default_factory=dict)


def dbt_arguments(step: DbtStep, scope: Scope, paths: dict[str, Path]) -> list[str]:
    """The dbt command line after ``dbt``: the command, its selection and the run's paths."""
    argv = [
        step.command,
        "--project-dir",
        str(paths["project"]),
        "--profiles-dir",
        str(paths["profiles"]),
        "--target",
        dbt_env.PROFILE_TARGET,
        "--target-path",
        str(paths["target"]),
        "--log-path",
        str(paths["logs"]),
        "--no-use-colors",
    ]
    if step.select:
        argv += ["--select", render(step.select, scope)]
    if step.exclude:
        argv += ["--exclude", render(step.exclude, scope)]
    if step.vars:
        argv += ["--vars", json.dumps(render_json(step.vars, scope), default=str)]
    if step.full_refresh:
        argv.append("--full-refresh")
    return argv


def node_results(run_results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per node dbt ran: name, type, status, rows affected, duration."""
    nodes = []
    for item in run_results.get("results") or []:
        unique_id = str(item.get("unique_id") or "")
        parts = unique_id.split(".")
        response = item.get("adapter_response") or {}
        rows = response.get("rows_affected")
        nodes.append(
            {
                # model.<project>.<name>[.v2], test.<project>.<name>.<hash>
                "name": parts[2] if len(parts) >= 3 else unique_id,
                "resource_type": parts[0] if parts else "",
                "unique_id": unique_id,
                "status": str(item.get("status") or ""),
                "rows_affected": rows if isinstance(rows, int) else None,
                "duration_seconds": round(float(item.get("execution_time") or 0), 3),
                "failures": item.get("failures"),
                "message": item.get("message"),
            }
        )
    return nodes


def _environment(home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }


def run_dbt_step(
    step: DbtStep,
    scope: Scope,
    plan: RunPlan,
    *,
    settings: Settings,
    run_id: str,
    log: Log,
    cancel: threading.Event,
) -> DbtResult:
    connection_type, props = plan.connection(step.connection_id)
    dbt_env.profile_target(connection_type, props)  # unsupported types fail before any work
    python = dbt_env.dbt_python(settings, log, cancel)
    runs = settings.resolved_data_dir() / "dbt-runs"
    runs.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"{run_id}-", dir=runs))  # mode 0700
    application = dbt_env.application_name_for(run_id)
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def dbt_log(level: str, message: str) -> None:
        tail.append(message)
        log(level, message)

    try:
        if step.project_dir:
            project = dbt_env.copy_project(settings, step.project_dir, workdir)
        else:
            assert step.git_url is not None
            project = dbt_env.fetch_project(
                settings, step.git_url, step.git_ref, step.subdirectory, workdir, log, cancel
            )
        paths = {
            "project": project,
            "profiles": dbt_env.write_profiles(
                workdir, dbt_env.profile_name(project), connection_type, props, application
            ),
            "target": workdir / "target",
            "logs": workdir / "logs",
        }
        argv = dbt_arguments(step, scope, paths)
        log("INFO", f"dbt: dbt {' '.join(argv[:1] + argv[12:])}")
        try:
            finished = run_child(
                [str(python), "-c", DBT_MAIN, *argv],
                env=_environment(workdir),
                cwd=project,
                log=dbt_log,
                cancel=cancel,
                prefix="dbt: ",
                stop_signal=signal.SIGINT,  # dbt cancels its running queries, then exits
            )
        except (RunCanceled, StepTimedOut):
            # killed before it could cancel them itself (or timed out): do it for dbt
            dbt_env.cancel_left_queries(connection_type, props, application, log)
            raise
        results_file = paths["target"] / "run_results.json"
        nodes: list[dict[str, Any]] = []
        elapsed = None
        if results_file.exists():
            run_results = json.loads(results_file.read_text(encoding="utf-8"))
            nodes = node_results(run_results)
            elapsed = run_results.get("elapsed_time")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    output: dict[str, Any] = {
        "command": step.command,
        "returncode": finished.returncode,
        "elapsed_seconds": round(float(elapsed), 3) if elapsed is not None else None,
        "results": nodes,
    }
    rows = sum(n["rows_affected"] or 0 for n in nodes if n["resource_type"] in ROW_TYPES)
    failed = [n for n in nodes if n["status"] in FAILED_STATUSES]
    if failed:
        names = ", ".join(f"{n['resource_type']} {n['name']} ({n['status']})" for n in failed)
        raise DbtStepFailed(f"dbt {step.command} failed: {names}", output)
    if finished.returncode != 0:
        last = " | ".join(line.removeprefix("dbt: ") for line in tail)
        raise DbtStepFailed(
            f"dbt {step.command} exited with code {finished.returncode}: {last}", output
        )
    return DbtResult(rows=rows, output=output)
