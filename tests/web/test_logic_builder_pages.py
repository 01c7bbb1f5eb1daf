"""The logic step editor over HTTP: rows with nesting levels -> the API's step tree, errors next
to the step they concern, reorder, and Edit reading a saved logic river back."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import River
from headwater.web.builder_logic_form import LogicState, StepRow, build_body, field_errors
from tests.api.rivers_help import create_connection, env_path, s2t_body
from tests.api.tokenhelp import mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio


def test_levels_nest_steps_and_errors_find_their_row() -> None:
    state = LogicState(
        values={"name": "l"},
        steps=[
            StepRow("condition", 0, values={"variable": "x", "operator": "is_empty"}),
            StepRow("sql", 1, values={"sql": "select 1"}),
            StepRow("loop", 1, values={"variable": "ids"}),
            StepRow("river", 2, values={"river": "b" * 24}),
            StepRow("sql", 0, values={"sql": "select 2"}),
        ],
    )
    state.values.update(cron="0 9 * * *", timezone="Europe/Paris")
    built = build_body(state)
    assert built.body["schedulers"] == [
        {"cron_expression": "0 9 * * *", "timezone": "Europe/Paris"}
    ]
    steps = built.body["properties"]["steps"]
    assert [s["type"] for s in steps] == ["condition", "sql"]
    assert [s["type"] for s in steps[0]["steps"]] == ["sql", "loop"]
    assert steps[0]["steps"][1]["steps"][0]["river_id"] == "b" * 24
    assert built.places[(0, 1, 0)] == 3 and built.places[(1,)] == 4
    loc = ("body", "properties", "steps", 0, "condition", "steps", 1, "loop", "steps", 0)
    found = field_errors([((*loc, "river", "river_id"), "bad id")], built.places)
    assert found == {"s3_river": "bad id"}


async def test_new_edit_and_reorder_a_logic_flow(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, sessions: sessionmaker[Session]
) -> None:
    headers = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id).headers
    conn = await create_connection(client, bootstrap, headers)
    made = await client.post(
        env_path(bootstrap, "/rivers"), json=s2t_body(conn, conn), headers=headers
    )
    sub = made.json()["river_id"]
    assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
    base = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
    csrf = await page_csrf(client, f"{base}/rivers/new-logic")
    form = {
        "csrf_token": csrf,
        "action": "save",
        "name": "nightly",
        "vars": "limit=5",
        "s0_type": "sql",
        "s0_level": "0",
        "s0_enabled": "on",
        "s0_connection": conn,
        "s0_sql": "select 1",
        "s0_target_variable": "flag",
        "s1_type": "condition",
        "s1_level": "0",
        "s1_enabled": "on",
        "s1_variable": "flag",
        "s1_operator": "equals",
        "s1_value": "1",
        "s2_type": "sql",
        "s2_level": "1",
        "s2_enabled": "on",
        "s2_connection": conn,
        "s2_sql": "",
    }
    bad = await client.post(f"{base}/rivers/new-logic", data=form)
    assert bad.status_code == 422
    assert 'id="e-s2_sql" role="alert">String should have at least 1 character' in bad.text
    form.update(s2_type="river", s2_river=sub)
    saved = await client.post(f"{base}/rivers/new-logic", data=form)
    assert saved.status_code == 303, saved.text
    river_id = saved.headers["location"].rsplit("/", 1)[1].split("?")[0]
    with sessions() as session:
        steps = session.get_one(River, river_id).definition["properties"]["steps"]
        assert steps[1]["steps"][0] == {**steps[1]["steps"][0], "type": "river", "river_id": sub}
        assert session.get_one(River, river_id).definition["variables"] == {"limit": 5}

    edit = await client.get(f"{base}/rivers/{river_id}/edit")
    assert 'name="s1_variable" value="flag"' in edit.text
    # The SQL step moved to the end: the condition's variable is then unknown, as the API says.
    form.update(step_order="1,2,0")
    unknown = await client.post(f"{base}/rivers/{river_id}/edit-logic", data=form)
    assert unknown.status_code == 422
    assert 'id="e-s0_variable" role="alert">unknown variable &#39;flag&#39;' in unknown.text
    form.update(vars="limit=5\nflag=0")
    moved = await client.post(f"{base}/rivers/{river_id}/edit-logic", data=form)
    assert moved.status_code == 303, moved.text
    with sessions() as session:
        river = session.get_one(River, river_id)
        assert [s["type"] for s in river.definition["properties"]["steps"]] == ["condition", "sql"]
        assert river.version == 2


async def test_dbt_and_python_steps_in_the_editor_need_river_code(
    client: httpx.AsyncClient, bootstrap: BootstrapResult, sessions: sessionmaker[Session]
) -> None:
    headers = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id).headers
    conn = await create_connection(client, bootstrap, headers)
    member = await client.post(
        f"/v1/accounts/{bootstrap.account_id}/users",
        json={"email": "m@example.com", "name": "M", "role": "member", "password": "pw-member-1"},
        headers=headers,
    )
    assert member.status_code == 201, member.text
    base = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"

    def form(csrf: str) -> dict[str, str | list[str]]:
        return {
            "csrf_token": csrf,
            "action": "save",
            "name": "transform",
            "s0_type": "dbt",
            "s0_level": "0",
            "s0_enabled": "on",
            "s0_connection": conn,
            "s0_project_dir": "/srv/dbt/shop",
            "s0_command": "test",
            "s0_select": "orders+",
            "s1_type": "python",
            "s1_level": "0",
            "s1_enabled": "on",
            "s1_script": "def main(v):\n    return {'n': 1}\n",
            "s1_function": "main",
            "s1_timeout_seconds": "30",
            "s1_memory_mb": "256",
            "s1_connection_ids": [conn],
        }

    # A member may not save code steps: the API's own message, next to the form.
    assert (await sign_in(client, "m@example.com", "pw-member-1")).status_code == 303
    csrf = await page_csrf(client, f"{base}/rivers/new-logic")
    refused = await client.post(f"{base}/rivers/new-logic", data=form(csrf))
    assert refused.status_code in (403, 422), refused.text
    assert "river:code" in refused.text
    with sessions() as session:
        assert session.query(River).filter_by(name="transform").count() == 0

    client.cookies.clear()
    assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
    csrf = await page_csrf(client, f"{base}/rivers/new-logic")
    bad = form(csrf)
    bad.update(s0_project_dir="relative/path", s1_memory_mb="1")
    rejected = await client.post(f"{base}/rivers/new-logic", data=bad)
    assert rejected.status_code == 422
    assert 'id="e-s1_memory_mb" role="alert">' in rejected.text
    assert "project_dir must be an absolute path" in rejected.text

    saved = await client.post(f"{base}/rivers/new-logic", data=form(csrf))
    assert saved.status_code == 303, saved.text
    river_id = saved.headers["location"].rsplit("/", 1)[1].split("?")[0]
    with sessions() as session:
        dbt, python = session.get_one(River, river_id).definition["properties"]["steps"]
    assert dbt["type"] == "dbt" and dbt["project_dir"] == "/srv/dbt/shop"
    assert dbt["command"] == "test" and dbt["select"] == "orders+" and dbt["connection_id"] == conn
    assert python["type"] == "python" and python["timeout_seconds"] == 30
    assert python["memory_mb"] == 256 and python["connection_ids"] == [conn]

    edit = await client.get(f"{base}/rivers/{river_id}/edit")
    assert 'name="s0_project_dir" value="/srv/dbt/shop"' in edit.text
    assert f'<option value="{conn}" selected>' in edit.text
