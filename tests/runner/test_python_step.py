"""The ``python`` logic step end to end: a real API, the local executor, a real child process."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database
from tests.runner.code_steps_help import Env, console_run_page, logic, run_log, sql, steps_of

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The step runs in a child process whatever the metadata DB: one backend is enough."""
    return str(request.param)


@pytest.fixture
def env(client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI) -> Env:
    return Env(client, bootstrap, app)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    require_service("postgres")
    url = create_pg_database("hw_pystep")
    yield url
    drop_pg_database(url)


def python(name: str, script: str, **extra: object) -> dict[str, object]:
    return {"type": "python", "name": name, "script": textwrap.dedent(script), **extra}


async def test_variables_in_and_out_connections_and_output_in_the_log(
    env: Env, pg_url: str
) -> None:
    conn = await env.connection(pg_url)
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as pg:
        pg.execute("DROP TABLE IF EXISTS readings")
        pg.execute("CREATE TABLE readings AS SELECT g AS v FROM generate_series(1, 7) g")
    compute = python(
        "compute",
        """
        import os, psycopg

        def main(variables):
            print("factor is", variables["factor"])
            dsn = variables["_connections"][CONN]["dsn"]
            with psycopg.connect(dsn) as c:
                total = c.execute("SELECT sum(v) FROM readings").fetchone()[0]
            secret_env = [k for k in os.environ if k.startswith("HEADWATER")]
            return {"scaled": total * variables["factor"], "env": secret_env, "bad key": 1}
        """.replace("CONN", repr(conn)),
        connection_ids=[conn],
        output_variables=["scaled"],
    )
    check = sql("check", conn, "SELECT {scaled} + 1", target_variable="after")
    river = await env.river(logic("py vars", [compute, check], variables={"factor": 3}))
    run = await env.run(river)
    assert run["status"] == "succeeded", run
    steps = await steps_of(env, river, run["run_id"])
    assert steps[0]["output"]["result"] == {"scaled": 84, "env": [], "bad key": 1}
    assert steps[0]["output"]["variables"] == ["scaled", "env"]
    variables = await env.call("GET", f"/rivers/{river}/runs/{run['run_id']}/variables")
    values = variables["variables"] if "variables" in variables else variables["values"]
    assert values["scaled"] == 84 and values["after"] == 85
    assert "python: factor is 3" in await run_log(env, river, run["run_id"])
    page = await console_run_page(env, river, run["run_id"])
    assert 'data-step-type="python"' in page and "&#34;scaled&#34;: 84" in page


async def test_a_raising_script_fails_the_run_with_its_traceback_in_the_log(env: Env) -> None:
    failing = python(
        "boom",
        """
        def helper(x):
            raise ValueError(f"bad input {x}")

        def main(variables):
            return helper(42)
        """,
    )
    river = await env.river(logic("py raises", [failing]))
    run = await env.run(river)
    assert run["status"] == "failed"
    assert "ValueError: bad input 42" in run["error_description"]
    log = await run_log(env, river, run["run_id"])
    assert "Traceback (most recent call last)" in log
    assert 'raise ValueError(f"bad input {x}")' in log  # the script's own source line


async def test_time_limit_stops_the_script(env: Env) -> None:
    sleeper = python(
        "sleeper", "import time\ndef main(v):\n    time.sleep(60)\n", timeout_seconds=1
    )
    river = await env.river(logic("py slow", [sleeper]))
    started = time.monotonic()
    run = await env.run(river)
    assert time.monotonic() - started < 20
    assert run["status"] == "failed"
    assert "time limit of 1 s" in run["error_description"]


async def test_memory_limit_stops_the_script(env: Env) -> None:
    hog = python(
        "hog", "def main(v):\n    return len(bytearray(800 * 1024 * 1024))\n", memory_mb=256
    )
    small = python("small", "def main(v):\n    return len(bytearray(50 * 1024 * 1024))\n")
    river = await env.river(logic("py memory", [small, hog]))
    run = await env.run(river)
    assert run["status"] == "failed"
    assert "memory limit of 256 MB" in run["error_description"]
    steps = await steps_of(env, river, run["run_id"])
    assert steps[0]["status"] == "succeeded" and steps[0]["output"] == {"result": 52428800}


async def test_unusable_return_values_and_missing_outputs_fail_clearly(env: Env) -> None:
    not_json = python("set", "def main(v):\n    return {1, 2}\n")
    river = await env.river(logic("py not json", [not_json]))
    run = await env.run(river)
    assert run["status"] == "failed"
    assert "not JSON" in run["error_description"]
    missing = python("miss", "def main(v):\n    return {'a': 1}\n", output_variables=["b"])
    river = await env.river(logic("py missing", [missing]))
    run = await env.run(river)
    assert "did not return output_variables b" in run["error_description"]


async def test_the_rivers_run_timeout_stops_a_script_and_the_console_shows_the_river(
    env: Env,
) -> None:
    sleeper = python("sleeper", "import time\ndef main(v):\n    time.sleep(60)\n")
    body = logic("py run timeout", [sleeper], settings={"run_timeout_seconds": 2})
    river = await env.river(body)
    started = time.monotonic()
    run = await env.run(river)
    assert time.monotonic() - started < 20
    assert run["status"] == "failed"
    assert "exceeded its timeout of 2 seconds" in run["error_description"]
    steps = await steps_of(env, river, run["run_id"])
    assert steps[0]["status"] == "canceled"
    await console_run_page(env, river, run["run_id"])  # signs in
    console = env.prefix.replace("/v1/", "/console/")
    page = await env.client.get(f"{console}/rivers/{river}")
    assert page.status_code == 200 and "time.sleep(60)" in page.text


async def test_private_values_are_masked_in_the_log_and_the_output(env: Env) -> None:
    secret = "private-value-0123456789"
    leaky = python(
        "leaky",
        "def main(v):\n    print('token:', v['token'])\n    return {'copy': v['token']}\n",
    )
    variables = {"token": {"value": secret, "is_private": True}}
    river = await env.river(logic("py private", [leaky], variables=variables))
    run = await env.run(river)
    assert run["status"] == "succeeded", run["error_description"]
    log = await run_log(env, river, run["run_id"])
    assert "python: token: ********" in log and secret not in log
    steps = await steps_of(env, river, run["run_id"])
    assert secret not in str(steps[0]["output"])


async def test_the_script_cannot_reach_headwaters_own_secrets(env: Env, settings: Settings) -> None:
    """The data dir (secret key, metadata DB), the worker's /proc entries (its environment
    may hold HEADWATER_SECRET_KEY) and other programs are refused."""
    data_dir = settings.resolved_data_dir()
    key = data_dir / "secret.key"
    key.write_text("the-key-of-every-secret")
    attempts = {
        "key": f"open({str(key)!r}).read()",
        "listing": f"__import__('os').listdir({str(data_dir)!r})",
        "parent": "open(f'/proc/{__import__(\"os\").getppid()}/environ', 'rb').read()",
        "program": "__import__('subprocess').run(['cat', '/etc/hostname'])",
        "shell": "__import__('os').system('cat /etc/hostname')",
    }
    for name, attempt in attempts.items():
        step = python(
            name,
            f"""
            def main(variables):
                return {{"got": str({attempt})}}
            """,
        )
        river = await env.river(logic(f"py {name}", [step]))
        run = await env.run(river)
        assert run["status"] == "failed", (name, run)
        assert "PermissionError" in run["error_description"], (name, run["error_description"])
        log = await run_log(env, river, run["run_id"])
        assert "the-key-of-every-secret" not in log
    # What the step is given stays usable: its own files and ordinary computation.
    fine = python(
        "fine",
        """
        import os, json
        def main(variables):
            with open("scratch.json", "w") as handle:
                json.dump({"a": 1}, handle)
            return {"files": sorted(os.listdir(".")), "cpus": os.cpu_count() is not None}
        """,
    )
    river = await env.river(logic("py fine", [fine]))
    run = await env.run(river)
    assert run["status"] == "succeeded", run["error_description"]
