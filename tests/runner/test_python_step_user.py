"""``HEADWATER_CODE_STEP_USER``: a python step's script runs as another OS user, so it cannot
read the worker's files. Needs root and an interpreter that user may run (HW_TEST_CODE_USER)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from fastapi import FastAPI

from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from tests.runner.code_steps_help import Env, logic, steps_of
from tests.runner.test_python_step import python

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI) -> Env:
    return Env(client, bootstrap, app)


def _can_run_as(user: str) -> bool:
    if os.geteuid() != 0:
        return False
    try:
        done = subprocess.run([sys.executable, "-I", "-c", "pass"], user=user, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"code_step_user": os.environ.get("HW_TEST_CODE_USER")})


async def test_the_script_runs_as_the_code_step_user(env: Env, settings: Settings) -> None:
    """With HEADWATER_CODE_STEP_USER the script cannot read the worker's data dir."""
    if not settings.code_step_user or not _can_run_as(settings.code_step_user):
        pytest.skip("set HW_TEST_CODE_USER to a user that may run this Python, as root")
    key = settings.resolved_data_dir() / "secret.key"
    key.write_text("not-for-scripts")
    reader = python(
        "reader",
        f"""
        import os

        def main(v):
            try:
                return open({str(key)!r}).read()
            except PermissionError:
                return {{"uid": os.getuid()}}
        """,
    )
    river = await env.river(logic("py user", [reader]))
    run = await env.run(river)
    assert run["status"] == "succeeded", run["error_description"]
    steps = await steps_of(env, river, run["run_id"])
    assert steps[0]["output"]["result"]["uid"] != 0
