"""``river:code``: rivers with ``python`` or ``dbt`` steps run code on the worker, so saving one
needs that scope, held by an admin (or a token an admin granted it), on every save path."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from headwater.security.scopes import ALL_SCOPES, MEMBER_SCOPES, SCOPES
from headwater.services.auth import actor_for, principal_for_user
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import User
from tests.api.tokenhelp import add_user, mint

pytestmark = pytest.mark.anyio

WITHOUT_CODE = ALL_SCOPES - {"river:code"}


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Api:
    def __init__(self, client: httpx.AsyncClient, boot: BootstrapResult, app: FastAPI) -> None:
        self.client = client
        self.sessions = app.state.session_factory
        self.boot = boot
        self.prefix = f"/v1/accounts/{boot.account_id}/environments/{boot.environment_id}"

    def token(self, scopes: Any = ALL_SCOPES, *, role: str = "admin") -> dict[str, str]:
        creator = self.boot.admin_id
        if role != "admin":
            creator = add_user(self.sessions, self.boot.account_id, role=role)
        return mint(self.sessions, self.boot.account_id, created_by=creator, scopes=scopes).headers

    async def call(
        self, method: str, path: str, headers: dict[str, str], expect: int, **kw: Any
    ) -> Any:
        response = await self.client.request(method, self.prefix + path, headers=headers, **kw)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None


@pytest.fixture
def api(client: httpx.AsyncClient, bootstrap: BootstrapResult, app: FastAPI) -> Api:
    return Api(client, bootstrap, app)


def river(name: str, script: str = "def main(v):\n    return 1\n") -> dict[str, Any]:
    return {
        "name": name,
        "type": "logic",
        "properties": {"steps": [{"type": "python", "name": "py", "script": script}]},
    }


async def test_tokens_without_river_code_cannot_save_code_steps(api: Api) -> None:
    plain = api.token(WITHOUT_CODE)
    refused = await api.call("POST", "/rivers", plain, 403, json=river("py"))
    assert "river:code" in str(refused)
    connection = await api.call(
        "POST",
        "/connections",
        plain,
        201,
        json={
            "connection_name": "duck",
            "connection_type": "duckdb",
            "properties": {"path": "/tmp/never-used.duckdb"},
        },
    )
    dbt = {
        "name": "dbt",
        "type": "logic",
        "properties": {
            "steps": [
                {
                    "type": "dbt",
                    "connection_id": connection.get("connection_id") or connection["id"],
                    "project_dir": "/srv/dbt",
                }
            ]
        },
    }
    refused = await api.call("POST", "/rivers", plain, 403, json=dbt)
    assert "dbt steps" in str(refused)


async def test_a_members_token_with_the_scope_is_still_refused(api: Api) -> None:
    member = api.token(ALL_SCOPES, role="member")
    await api.call("POST", "/rivers", member, 403, json=river("py"))


async def test_an_admin_token_with_the_scope_saves_and_others_may_edit_around_the_code(
    api: Api,
) -> None:
    coder, plain = api.token(ALL_SCOPES), api.token(WITHOUT_CODE)
    created = await api.call("POST", "/rivers", coder, 201, json=river("py"))
    river_id = created["cross_id"]
    # Same code, new name and variables: river:write is enough.
    renamed = {**river("py renamed"), "variables": {"x": 1}}
    await api.call("PUT", f"/rivers/{river_id}", plain, 200, json=renamed)
    # Changed code: refused without the scope, accepted with it.
    changed = river("py renamed", "def main(v):\n    return 2\n")
    await api.call("PUT", f"/rivers/{river_id}", plain, 403, json=changed)
    await api.call("PUT", f"/rivers/{river_id}", coder, 200, json=changed)
    # Restoring the first version brings back other code: the scope again.
    versions = await api.call("GET", f"/rivers/{river_id}/versions", plain, 200)
    first = next(v for v in versions["items"] if v["version"] == 1)
    body = {"version_id": first["version_id"]}
    await api.call("PUT", f"/rivers/{river_id}/restore", plain, 403, json=body)
    await api.call("PUT", f"/rivers/{river_id}/restore", coder, 200, json=body)


async def test_the_scope_is_listed_and_console_members_do_not_hold_it(
    api: Api, bootstrap: BootstrapResult
) -> None:
    assert "river:code" in SCOPES and "river:code" not in MEMBER_SCOPES
    with api.sessions() as session:
        admin = session.get_one(User, bootstrap.admin_id)
        member = session.get_one(User, add_user(api.sessions, bootstrap.account_id, role="member"))
        assert actor_for(principal_for_user(admin)).may_run_code
        assert not actor_for(principal_for_user(member)).may_run_code


async def test_the_legacy_api_keeps_code_steps_and_checks_the_scope(api: Api) -> None:
    """A code step survives the legacy shape both ways; a legacy save needs the scope too."""
    coder, plain = api.token(ALL_SCOPES), api.token(WITHOUT_CODE)
    script = "def main(v):\n    return {'n': 1}\n"
    body = river("legacy py", script)
    body["properties"]["steps"][0].update(output_variables=["n"], memory_mb=128)
    river_id = (await api.call("POST", "/rivers", coder, 201, json=body))["cross_id"]
    full = await api.client.post(
        "/api/rivers/list", content=json.dumps({"_id": {"$oid": river_id}}).encode(), headers=coder
    )
    assert full.status_code == 200, full.text
    legacy = full.json()
    steps = legacy["tasks_definitions"][0]["task_config"]["logic_steps"]
    assert steps[0]["content"]["block_primary_type"] == "python"
    assert legacy["tasks_definitions"][0]["task_config"]["variables"]["n"]["set_by_step"]
    update = {**legacy, "_id": {"$oid": river_id}}
    saved = await api.client.patch(
        "/api/rivers/modify", content=json.dumps(update).encode(), headers=plain
    )
    assert saved.status_code == 200, saved.text  # unchanged code: river:write is enough
    stored = await api.call("GET", f"/rivers/{river_id}", plain, 200)
    step = stored["properties"]["steps"][0]
    assert step["script"] == script and step["memory_mb"] == 128
    assert step["output_variables"] == ["n"] and stored["variables"] == {}
    content = steps[0]["content"]
    content["headwater_step"]["script"] = "def main(v):\n    return 2\n"
    refused = await api.client.patch(
        "/api/rivers/modify", content=json.dumps(update).encode(), headers=plain
    )
    assert refused.status_code == 403 and "river:code" in refused.text
