"""The action-river form over HTTP: a saved action reads back into the form, a credential
header shows only as set (its value never in the page) and keeps its stored value when left
empty, Review shows the diff, and an invalid form gets the API's message beside its field."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from headwater.security.crypto import SecretBox
from headwater.services import river_secrets
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models import River
from headwater.web.builder_action_form import (
    ActionState,
    HeaderRow,
    build_body,
    field_errors,
    state_from_definition,
)
from tests.api.rivers_help import action_body, env_path
from tests.api.tokenhelp import mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio
KEY = "key-123-do-not-show"


def test_form_and_body_round_trip() -> None:
    saved = action_body()
    saved["properties"]["request"]["headers"]["X-Api-Key"] = "********"
    state = state_from_definition(saved)
    assert state.get("method") == "POST" and state.get("body_type") == "json"
    assert state.get("response_vars") == "item_id=$.items[0].id"
    assert [(h.name, h.secret, h.stored) for h in state.headers] == [
        ("Accept", False, False),
        ("X-Api-Key", True, True),
    ]
    built = build_body(state, keep=saved)
    assert not built.errors
    props = built.body["properties"]
    assert props["request"]["headers"] == {"Accept": "application/json", "X-Api-Key": "********"}
    assert props["auth"] == saved["properties"]["auth"]  # kept as saved
    assert props["request"]["body"] == {"type": "json", "content": {"region": "{base}"}}
    assert built.body["variables"] == saved["variables"]
    bad = build_body(ActionState({"body_type": "json", "body": "{nope"}, [HeaderRow("A", "b")]))
    assert bad.errors["body"].startswith("not valid JSON")
    assert field_errors(
        [(("body", "actions", "properties", "request", "headers", "A"), "bad"),
         (("body", "actions", "properties", "request", "url"), "url!")],
        ["A"],
    ) == {"h0": "bad", "url": "url!"}  # fmt: skip


async def test_new_and_edit_an_action_with_a_secret_header(
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
    settings: Settings,
) -> None:
    assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
    base = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
    csrf = await page_csrf(client, f"{base}/rivers/new-action")
    form = {
        "csrf_token": csrf,
        "action": "save",
        "name": "ping",
        "method": "POST",
        "url": "ftp://example.com/x",
        "header_count": "2",
        "h0_name": "Accept",
        "h0_value": "application/json",
        "h1_name": "X-Api-Key",
        "h1_value": KEY,
        "body_type": "json",
        "body": '{"a": 1}',
        "response_vars": "job_id=$.id",
    }
    refused = await client.post(f"{base}/rivers/new-action", data=form)
    assert refused.status_code == 422
    assert 'id="e-url" role="alert">' in refused.text and "http:// or https://" in refused.text
    assert KEY not in refused.text  # a credential header is never rendered back

    form["url"] = "https://api.example.com/jobs"
    saved = await client.post(f"{base}/rivers/new-action", data=form)
    assert saved.status_code == 303, saved.text
    river_id = saved.headers["location"].split("/rivers/")[1].split("?")[0]

    edit = await client.get(f"{base}/rivers/{river_id}/edit")
    assert edit.status_code == 200 and KEY not in edit.text
    assert 'id="h1-state">set<' in edit.text
    # As the edit page posts it: the key's field empty, its "stored" marker set.
    form.update(h1_value="", h1_stored="on", body='{"a": 2}', action="review")
    review = await client.post(f"{base}/rivers/{river_id}/edit-action", data=form)
    assert review.status_code == 200 and 'id="diff"' in review.text
    diff = review.text.split('id="diff">')[1].split("</pre>")[0]
    assert '<span class="add">+          &#34;a&#34;: 2</span>' in diff
    assert "X-Api-Key" not in diff  # the stored key is kept, so it is no change
    form["action"] = "save"
    again = await client.post(f"{base}/rivers/{river_id}/edit-action", data=form)
    assert again.status_code == 303
    with sessions() as session:
        stored = session.get_one(River, river_id).definition
    opened = river_secrets.opened(stored, SecretBox.from_settings(settings))
    assert opened["properties"]["request"]["headers"]["X-Api-Key"] == KEY  # kept
    assert opened["properties"]["request"]["body"]["content"] == {"a": 2}
    minted = mint(sessions, bootstrap.account_id, created_by=bootstrap.admin_id)
    api = await client.get(env_path(bootstrap, f"/rivers/{river_id}"), headers=minted.headers)
    assert api.json()["version"] == 2
