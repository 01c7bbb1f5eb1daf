"""Shared helpers of the code-step tests: the API driver of the logic-run tests, run logs, steps."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.api.test_logic_runs import Env, s2t, sql
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.forms import sign_in

__all__ = ["Env", "console_run_page", "logic", "run_log", "s2t", "sql", "steps_of"]


def logic(name: str, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "logic", "properties": {"steps": steps}, **extra}


async def run_log(env: Env, river_id: str, run_id: str) -> str:
    response = await env.client.get(
        f"{env.prefix}/rivers/{river_id}/runs/{run_id}/logs", headers=env.headers
    )
    assert response.status_code == 200, response.text
    rows = list(csv.reader(io.StringIO(response.text)))
    return "\n".join(" ".join(row) for row in rows)


async def steps_of(env: Env, river_id: str, run_id: str) -> list[dict[str, Any]]:
    body = await env.call("GET", f"/rivers/{river_id}/runs/{run_id}/logic_steps")
    return list(body["items"] if isinstance(body, dict) else body)


async def start(env: Env, river_id: str, variables: dict[str, Any] | None = None) -> str:
    body = {"variables": variables} if variables is not None else None
    started = await env.call("POST", f"/rivers/{river_id}/run", 202, json=body)
    return str(started["runs"][0]["run_id"])


async def cancel(env: Env, river_id: str, run_id: str) -> httpx.Response:
    return await env.client.post(
        f"{env.prefix}/rivers/{river_id}/cancel_run", headers=env.headers, json={"run_id": run_id}
    )


async def console_run_page(env: Env, river_id: str, run_id: str) -> str:
    """The console's run page of the run, as the bootstrap admin sees it."""
    signed = await sign_in(env.client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert signed.status_code == 303, signed.text
    console = env.prefix.replace("/v1/", "/console/")
    page = await env.client.get(f"{console}/rivers/{river_id}/runs/{run_id}")
    assert page.status_code == 200, page.text
    return page.text
