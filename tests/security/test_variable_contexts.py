"""Siblings of the SQL-variable finding: every other place a run's variables are rendered into
something interpreted - URL components, headers, JSON bodies - and the rule that raw
variables come from definitions only (run parameters, sub-river callers and loop items cannot
supply one). Requests go to a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest

from headwater.runner.http_request import perform
from headwater.runner.river_plans import RawParameter, RiverPlan, RunPlan
from headwater.runner.variables import Scope, UnsafeText, render_url
from headwater.schemas.rivers import RIVER_IN
from headwater.schemas.rivers_actions import ActionProperties
from headwater.services.legacy_rivers import from_legacy, to_legacy
from tests.runner import actions_server as srv


@pytest.fixture(scope="module")
def server() -> Iterator[srv.Served]:
    with srv.serve() as served:
        yield served


@pytest.fixture
def api(server: srv.Served) -> srv.Served:
    server.recorder.reset()
    return server


def _perform(request: dict[str, Any], scope: Scope) -> None:
    props = ActionProperties.model_validate({"request": request})
    perform(props, scope, cancel=threading.Event(), log=lambda level, message: None)


HOSTILE = "x?admin=1&drop=yes#frag é"


def test_url_values_are_one_encoded_component_and_the_host_is_raw_only(api: srv.Served) -> None:
    scope = Scope({"base": api.url, "name": HOSTILE, "day": "2026-01-01&admin=1"}, raw={"base"})
    _perform({"method": "GET", "url": "{base}/calls/{name}?day={day}"}, scope)
    [call] = api.recorder.calls
    assert unquote(call["path"]) == f"/calls/{HOSTILE}"  # one path segment
    assert call["query"] == {"day": "2026-01-01&admin=1"}  # no parameter was added

    # A plain (non-raw) variable - e.g. a run parameter - may not choose the host.
    with pytest.raises(UnsafeText, match=r"\{host\} is in the scheme or host"):
        _perform({"url": "http://{host}/calls/x"}, Scope({"host": "attacker.example"}))
    with pytest.raises(UnsafeText, match="scheme or host"):
        _perform({"url": "{base}/calls/x"}, Scope({"base": api.url}))
    with pytest.raises(UnsafeText, match="not a path segment"):
        _perform({"url": f"{api.url}/calls/{{up}}/x"}, Scope({"up": ".."}))
    assert len(api.recorder.calls) == 1  # refused before any request


def test_render_url_parts() -> None:
    scope = Scope({"a": "a/b c", "b": "é&=", "raw": "https://h:8080/v1"}, raw={"raw"})
    assert (
        render_url("https://h/{a}?q={b}#{a}", scope)
        == "https://h/a%2Fb%20c?q=%C3%A9%26%3D#a%2Fb%20c"
    )
    assert render_url("{raw}/items/{a}", scope) == "https://h:8080/v1/items/a%2Fb%20c"
    # "/" is encoded too: a value cannot climb to another endpoint of the API.
    climbing = Scope({"id": "../../oauth/token"})
    assert render_url("https://h/items/{id}", climbing) == "https://h/items/..%2F..%2Foauth%2Ftoken"


def test_header_values_cannot_add_headers(api: srv.Served) -> None:
    scope = Scope({"who": "me\r\nX-Admin: yes"})
    with pytest.raises(UnsafeText, match="line break"):
        _perform({"url": f"{api.url}/calls/h", "headers": {"X-Who": "{who}"}}, scope)
    with pytest.raises(UnsafeText, match="header name"):
        _perform({"url": f"{api.url}/calls/h", "headers": {"{who}": "1"}}, scope)
    assert api.recorder.calls == []


def test_json_bodies_hold_values_as_json_strings(api: srv.Served) -> None:
    value = '", "admin": true, "x": "\\u0000\n'
    scope = Scope({"v": value})
    body = {"type": "json", "content": {"note": "before {v} after", "whole": "{v}"}}
    _perform({"method": "POST", "url": f"{api.url}/calls/j", "body": body}, scope)
    sent = json.loads(api.recorder.calls[0]["body"])
    assert sent == {"note": f"before {value} after", "whole": value}


# -- raw variables come from definitions only ----------------------------------------------------


def _plan(variables: dict[str, Any], run_parameters: dict[str, Any]) -> tuple[RunPlan, RiverPlan]:
    model = RIVER_IN.validate_python(
        {
            "name": "sub",
            "type": "logic",
            "variables": variables,
            "properties": {
                "steps": [{"type": "sql", "connection_id": "a" * 24, "sql": "SELECT {t}"}]
            },
        }
    )
    river = RiverPlan("b" * 24, "sub", "logic", model)
    plan = RunPlan(
        account_id="acc",
        environment_id="env",
        root_id=river.id,
        rivers={river.id: river},
        connections={},
        environment={"env_raw": "schema_a"},
        private=set(),
        run_parameters=run_parameters,
        secrets=[],
        raw_environment={"env_raw"},
    )
    return plan, river


def _scope(plan: RunPlan, river: RiverPlan) -> Scope:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    return plan.base_scope(river, run_id="r", run_group_id="g", now=now)


def test_the_runner_refuses_run_parameters_for_raw_variables() -> None:
    for name in ("t", "env_raw"):
        plan, river = _plan({"t": {"value": "events", "raw": True}}, {name: "victim; DROP"})
        with pytest.raises(RawParameter, match=rf"\{{{name}\}}"):
            _scope(plan, river)
    plan, river = _plan({"t": {"value": "events", "raw": True}}, {"day": "x'"})
    scope = _scope(plan, river)
    assert scope.lookup("t") == ("events", True)
    assert scope.lookup("env_raw") == ("schema_a", True)
    assert scope.lookup("day") == ("x'", False)


def test_a_sub_river_keeps_its_raw_value_and_loop_items_are_never_raw() -> None:
    plan, sub = _plan({"t": {"value": "events", "raw": True}}, {})
    caller = Scope({"t": "victim; DROP TABLE victim", "items": ["a"]})  # e.g. set by a step
    inner = plan.sub_scope(sub, caller)
    assert inner.lookup("t") == ("events", True)
    loop = Scope({"t": "events"}, raw={"t"}).child({"t": "from a list"})
    assert loop.lookup("t") == ("from a list", False)


def test_a_river_variable_overrides_a_raw_environment_variable_as_a_value() -> None:
    plan, river = _plan({"env_raw": "plain value"}, {})
    assert _scope(plan, river).lookup("env_raw") == ("plain value", False)


def test_the_raw_opt_in_survives_a_legacy_round_trip() -> None:
    definition = {
        "name": "n",
        "type": "logic",
        "variables": {"t": {"value": "events", "raw": True}, "d": "x"},
        "properties": {"steps": [{"type": "sql", "connection_id": "a" * 24, "sql": "SELECT 1"}]},
    }
    legacy = to_legacy(definition, "c" * 24, "active")
    back = from_legacy(legacy, None)
    assert back["variables"] == {"t": {"value": "events", "raw": True}, "d": "x"}
