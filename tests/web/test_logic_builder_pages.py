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
    built = build_body(state)
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
