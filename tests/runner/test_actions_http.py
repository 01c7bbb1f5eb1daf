"""HTTP request execution of actions against a real server: auth, pagination, retries, timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from headwater.runner.actions import run_action
from headwater.runner.contracts import RunCanceled
from headwater.runner.http_request import ActionFailed, perform
from headwater.runner.variables import Scope
from headwater.schemas.rivers_actions import ActionProperties, ActionsRiver
from tests.runner import actions_server as srv


@pytest.fixture(scope="module")
def server() -> Iterator[srv.Served]:
    with srv.serve() as served:
        yield served


@pytest.fixture
def api(server: srv.Served) -> srv.Served:
    server.recorder.reset()
    return server


class Logs:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, level: str, message: str) -> None:
        self.lines.append((level, message))

    @property
    def text(self) -> str:
        return "\n".join(m for _, m in self.lines)


def props(**fields: Any) -> ActionProperties:
    return ActionProperties.model_validate(fields)


def call(properties: ActionProperties, scope: Scope | None = None, **kw: Any) -> Any:
    logs = Logs()
    outcome = perform(properties, scope or Scope({}), cancel=threading.Event(), log=logs, **kw)
    return outcome, logs


@pytest.mark.parametrize(
    ("kind", "auth"),
    [
        ("basic", {"type": "basic", "username": srv.BASIC_USER, "password": srv.BASIC_PASSWORD}),
        ("bearer", {"type": "bearer", "token": srv.BEARER_TOKEN}),
        ("key_header", {"type": "api_key", "name": "X-Api-Key", "value": srv.API_KEY}),
        (
            "key_query",
            {"type": "api_key", "name": "api_key", "value": srv.API_KEY, "location": "query"},
        ),
    ],
)
def test_auth_kinds_are_accepted_and_secrets_stay_out_of_logs(
    api: srv.Served, kind: str, auth: dict[str, Any]
) -> None:
    outcome, logs = call(props(request={"url": f"{api.url}/auth/{kind}"}, auth=auth))
    assert outcome.status == 200
    assert outcome.pages == [{"user": {"name": f"via {kind}"}}]
    for secret in (srv.BASIC_PASSWORD, srv.BEARER_TOKEN, srv.API_KEY):
        assert secret not in logs.text


def test_missing_auth_fails_with_the_status_and_body(api: srv.Served) -> None:
    with pytest.raises(ActionFailed, match=r"GET .*/auth/bearer answered HTTP 401: .*unauthorized"):
        call(props(request={"url": f"{api.url}/auth/bearer"}))


def test_oauth2_client_credentials_fetches_a_token_then_calls(api: srv.Served) -> None:
    obtained: list[str] = []
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{api.url}/oauth/token",
        "client_id": srv.CLIENT_ID,
        "client_secret": srv.CLIENT_SECRET,
        "scope": "read",
    }
    outcome, _ = call(
        props(request={"url": f"{api.url}/auth/oauth"}, auth=auth), on_secret=obtained.append
    )
    assert outcome.pages == [{"user": {"name": "via oauth"}}]
    assert obtained == [srv.OAUTH_TOKEN]
    token_call = api.recorder.calls[0]
    assert token_call["form"]["scope"] == "read"


def test_oauth2_with_a_wrong_secret_fails_clearly(api: srv.Served) -> None:
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{api.url}/oauth/token",
        "client_id": srv.CLIENT_ID,
        "client_secret": "wrong",
    }
    with pytest.raises(ActionFailed, match="oauth/token answered HTTP 401"):
        call(props(request={"url": f"{api.url}/auth/oauth"}, auth=auth))


@pytest.mark.parametrize(
    ("style", "pagination"),
    [
        ("page", {"type": "page", "page_param": "page"}),
        (
            "offset",
            {"type": "offset", "offset_param": "offset", "size_param": "limit", "page_size": 3},
        ),
        ("cursor", {"type": "cursor", "cursor_param": "after", "cursor_path": "$.next"}),
        ("link", {"type": "link_header"}),
    ],
)
def test_pagination_collects_every_record_once(
    api: srv.Served, style: str, pagination: dict[str, Any]
) -> None:
    outcome, _ = call(
        props(request={"url": f"{api.url}/pages/{style}"}, pagination=pagination),
        records_path="$.data",
    )
    ids = [item["id"] for page in outcome.pages for item in page["data"]]
    assert ids == [1, 2, 3, 4, 5, 6, 7]


def test_pagination_stops_at_max_pages(api: srv.Served) -> None:
    outcome, _ = call(
        props(
            request={"url": f"{api.url}/pages/page"},
            pagination={"type": "page", "page_param": "page", "max_pages": 2},
        ),
        records_path="$.data",
    )
    assert len(outcome.pages) == 2
    assert len(api.recorder.calls) == 2


@pytest.mark.parametrize("status", [429, 500])
def test_retry_after_is_honoured(api: srv.Served, status: int) -> None:
    key = f"ra-{status}"
    outcome, logs = call(
        props(
            request={"url": f"{api.url}/flaky/{key}?status={status}&retry_after=1"},
            retries={"max_attempts": 3, "backoff_seconds": 0},
        )
    )
    assert outcome.status == 200
    assert outcome.calls == 2
    first, second = api.recorder.attempt_times[key]
    assert second - first >= 0.9  # Retry-After: 1, although backoff is 0
    assert f"answered HTTP {status}; retrying in 1 s" in logs.text


def test_backoff_doubles_without_retry_after(api: srv.Served) -> None:
    outcome, logs = call(
        props(
            request={"url": f"{api.url}/flaky/backoff?status=503&fail=2"},
            retries={"max_attempts": 3, "backoff_seconds": 0.2},
        )
    )
    assert outcome.status == 200
    times = api.recorder.attempt_times["backoff"]
    assert times[1] - times[0] >= 0.18
    assert times[2] - times[1] >= 0.38
    assert "retrying in 0.4 s" in logs.text


def test_retries_run_out(api: srv.Served) -> None:
    with pytest.raises(ActionFailed, match="answered HTTP 500"):
        call(
            props(
                request={"url": f"{api.url}/flaky/out?status=500&fail=9"},
                retries={"max_attempts": 2, "backoff_seconds": 0},
            )
        )
    assert api.recorder.attempts["out"] == 2


def test_non_retryable_status_is_not_retried(api: srv.Served) -> None:
    with pytest.raises(ActionFailed, match="answered HTTP 400"):
        call(props(request={"url": f"{api.url}/flaky/bad?status=400"}))
    assert api.recorder.attempts["bad"] == 1


def test_timeout_fails_with_a_clear_message(api: srv.Served) -> None:
    started = time.monotonic()
    with pytest.raises(ActionFailed, match=r"GET .*/slow timed out after 0.3 seconds"):
        call(
            props(
                request={"url": f"{api.url}/slow?seconds=3"},
                timeout_seconds=0.3,
                retries={"max_attempts": 1},
            )
        )
    assert time.monotonic() - started < 2


def test_cancel_interrupts_a_retry_wait(api: srv.Served) -> None:
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(RunCanceled):
        perform(
            props(
                request={"url": f"{api.url}/flaky/cancel?status=429&retry_after=30"},
                retries={"max_attempts": 3},
            ),
            Scope({}),
            cancel=cancel,
            log=Logs(),
        )
    assert time.monotonic() - started < 5


def test_templates_fill_url_query_headers_and_json_body(api: srv.Served) -> None:
    scope = Scope({"region": "emea", "ids": [1, 2], "day": "2026-11-01"})
    call(
        props(
            request={
                "method": "POST",
                "url": f"{api.url}/calls/{{region}}",
                "query": {"day": "{day}", "fixed": 3},
                "headers": {"X-Region": "{region}"},
                "body": {"type": "json", "content": {"ids": "{ids}", "note": "for {region}"}},
            }
        ),
        scope,
    )
    (recorded,) = api.recorder.calls
    assert recorded["path"] == "/calls/emea"
    assert recorded["query"] == {"day": "2026-11-01", "fixed": "3"}
    assert recorded["headers"]["x-region"] == "emea"
    assert recorded["body"] == '{"ids": [1, 2], "note": "for emea"}'


def test_form_body(api: srv.Served) -> None:
    call(
        props(
            request={
                "method": "POST",
                "url": f"{api.url}/calls/form",
                "body": {"type": "form", "content": {"a": "{x}", "b": True}},
            }
        ),
        Scope({"x": "1 2"}),
    )
    assert api.recorder.calls[0]["body"] == "a=1+2&b=true"


def test_response_variables_by_json_path(api: srv.Served) -> None:
    river = ActionsRiver.model_validate(
        {
            "name": "a",
            "type": "actions",
            "properties": {
                "request": {"url": f"{api.url}/pages/page"},
                "pagination": {"type": "page", "page_param": "page"},
                "response": {
                    "variables": [
                        {"name": "first_id", "path": "$.data[0].id"},
                        {"name": "all_ids", "path": "$.data[*].id"},
                        {"name": "nothing", "path": "$.missing"},
                    ],
                    "target": None,
                },
            },
        }
    )
    scope = Scope({})
    logs = Logs()
    result = run_action(river, None, scope, cancel=threading.Event(), log=logs, load_id="x")
    # Three pages: the first value of the first page; every id across pages.
    assert scope.get("all_ids") == [1, 2, 3, 4, 5, 6, 7]
    assert scope.get("first_id") == [1, 4, 7]
    assert scope.get("nothing") is None
    assert "$.missing matched nothing" in logs.text
    assert result.http_status == 200
    assert result.units > 0
