"""``headwater-client`` against a live ``headwater up``: its whole surface over real HTTP, with
real runs loading PostgreSQL, and its models checked against the served ``/openapi.json``."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args, get_origin

import anyio
import httpx
import pytest
from headwater_client import (
    AsyncClient,
    AuthenticationError,
    Client,
    Conflict,
    NotFound,
    PermissionDenied,
    RunFailed,
    ValidationError,
    WaitTimeout,
)
from headwater_client.models import MODELS, Model

from tests.clients.rivers_world import CUSTOMERS_ROWS, ORDERS_ROWS, World, river_body
from tests.live import LiveServer, checksum

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def client(world: World) -> typing.Iterator[Client]:
    with Client(
        base_url=world.url,
        token=world.token,
        account_id=world.account_id,
        environment_id=world.environment_id,
    ) as made:
        yield made


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(hours=1)


# -- the models cannot drift from the OpenAPI document -----------------------------------------

_JSON_TYPES: dict[Any, set[str]] = {
    str: {"string"},
    int: {"integer"},
    float: {"number", "integer"},
    bool: {"boolean"},
    datetime: {"string"},
    dict: {"object"},
    list: {"array"},
}


def _schema_types(schema: dict[str, Any], components: dict[str, Any]) -> set[str]:
    if "$ref" in schema:
        return {"object"}
    if "anyOf" in schema:
        return set().union(*(_schema_types(s, components) for s in schema["anyOf"]))
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def _hint_types(hint: Any) -> set[str]:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_hint_types(a) for a in get_args(hint)))
    if hint is type(None):
        return {"null"}
    if isinstance(hint, type) and issubclass(hint, Model):
        return {"object"}
    return _JSON_TYPES[origin or hint]


def test_models_match_the_served_openapi_document(live_server: LiveServer) -> None:
    document = httpx.get(f"{live_server.url}/openapi.json", timeout=30).json()
    components = document["components"]["schemas"]
    for model in MODELS:
        schema = components[model.__schema__]
        hints = typing.get_type_hints(model)
        fields = {
            f.name: f
            for f in dataclasses.fields(model)
            if f.name != "raw" and not f.metadata.get("client_only")
        }
        properties = schema["properties"]
        assert set(fields) == set(properties), f"{model.__name__} vs {model.__schema__}"
        for name in fields:
            wire = _schema_types(properties[name], components)
            ours = _hint_types(hints[name])
            assert wire - {"null"} <= ours, f"{model.__name__}.{name}: {wire} vs {ours}"
            assert ("null" in ours) == ("null" in wire), f"{model.__name__}.{name} nullability"
            field = fields[name]
            has_default = field.default is not dataclasses.MISSING or (
                field.default_factory is not dataclasses.MISSING
            )
            required = name in schema.get("required", [])
            assert has_default != required, f"{model.__name__}.{name}: required {required}"


# -- rivers --------------------------------------------------------------------------------------


def test_rivers_list_get_create_update_delete(client: Client, world: World, tmp_path: Path) -> None:
    assert client.me().account_id == world.account_id
    names = {r.name for r in client.rivers.list(name=world.prefix, page_size=1)}
    assert {world.good_river, world.bad_river, world.slow_river} <= names  # three pages of one
    assert len(client.rivers.list(name=world.prefix, limit=2)) == 2

    by_name = client.rivers.get(world.good_river)
    assert by_name.river_id == world.good_river_id
    assert client.rivers.get(world.good_river_id).name == world.good_river
    assert by_name.target_tables() == ["orders_copy", "customers_copy"]
    with pytest.raises(NotFound, match="no river named"):
        client.rivers.get(f"{world.prefix} missing")

    body = river_body(f"{world.prefix} yaml", world.source_id, world.target_id, ["orders"])
    import yaml

    spec = tmp_path / "river.yaml"
    spec.write_text(yaml.safe_dump(body))
    created = client.rivers.create_from_yaml(spec)
    assert created.version == 1 and created.target_tables() == ["orders_copy"]
    with pytest.raises(Conflict) as taken:
        client.rivers.create(body)
    assert taken.value.status_code == 409 and "yaml" in taken.value.message

    body["properties"]["schemas"][0]["tables"][0]["details"]["target_table"] = "orders_v2"
    updated = client.rivers.update(created.name, body)
    assert updated.version == 2 and updated.target_tables() == ["orders_v2"]
    assert client.rivers.disable(created.river_id).metadata.river_status == "disabled"
    assert client.rivers.activate(created.river_id).metadata.river_status == "active"
    assert client.rivers.variables(created.river_id, {"day": "2025-01-01"}) == {"day": "2025-01-01"}
    client.rivers.delete(created.name)
    with pytest.raises(NotFound):
        client.rivers.get(created.river_id)


def test_invalid_body_is_a_typed_validation_error(client: Client, world: World) -> None:
    body = river_body(f"{world.prefix} bad", world.source_id, world.target_id, ["orders"])
    body["properties"]["target"]["loading_method"] = "sideways"
    with pytest.raises(ValidationError) as invalid:
        client.rivers.create(body)
    assert invalid.value.status_code == 422
    assert "loading_method" in invalid.value.message
    assert invalid.value.errors and "loc" in invalid.value.errors[0]


# -- runs ----------------------------------------------------------------------------------------


def test_run_wait_runs_logs_and_activities(client: Client, world: World) -> None:
    group = client.rivers.run(
        world.good_river, variables={"day": "2025-01-01"}, wait=True, timeout=120,
        poll_interval=0.3,
    )  # fmt: skip
    assert group.status == "succeeded" and group.ok and group.finished
    rows = {run.target_name: run.total_rows for run in group.runs}
    assert rows == {"orders_copy": ORDERS_ROWS, "customers_copy": CUSTOMERS_ROWS}
    assert group.total_rows == ORDERS_ROWS + CUSTOMERS_ROWS
    assert all(run.units > 0 and run.total_size > 0 for run in group.runs)
    copied = checksum(world.target_db, "orders_copy")
    assert copied is not None and copied[0] == ORDERS_ROWS

    run = client.runs.get(world.good_river, group.runs[0].run_id)
    assert run.run_group_id == group.run_group_id and run.status == "succeeded"
    lines = list(client.runs.logs(world.good_river, run.run_id))
    assert lines and all(line.level for line in lines)
    assert any(str(run.total_rows) in line.msg or "row" in line.msg.lower() for line in lines)

    start, end = window()
    assert group.run_group_id in {
        g.run_group_id for g in client.run_groups.list(world.good_river, start, end)
    }
    listed = client.runs.list(world.good_river, start, end, items_per_page=1)
    assert {r.run_id for r in group.runs} <= {r.run_id for r in listed}  # one run a page
    again = client.run_groups.get(world.good_river_id, group.run_group_id)
    assert again.status == "succeeded" and len(again.runs) == 2

    stats = client.activities.statistics(start, end)
    assert stats.succeeded >= 2 and stats.total_units > 0
    assert client.activities.statistics(start, end, river=world.good_river).succeeded >= 2
    rollup = {row.river_id: row for row in client.activities.rivers(start, end)}
    assert rollup[world.good_river_id].total_rows >= ORDERS_ROWS + CUSTOMERS_ROWS
    targets = {t.target_name for t in client.activities.targets(world.good_river, start, end)}
    assert targets == {"orders_copy", "customers_copy"}
    assert client.activities.sub_rivers(world.good_river, start, end) == []


def test_failed_run_raises_with_error_description(client: Client, world: World) -> None:
    finished = client.rivers.run(world.bad_river, wait=True, timeout=120, poll_interval=0.3)
    assert finished.status == "failed" and not finished.ok
    assert finished.runs[0].error_description
    with pytest.raises(RunFailed) as failed:
        client.rivers.run(
            world.bad_river, wait=True, timeout=120, poll_interval=0.3, raise_on_failure=True
        )
    assert failed.value.run_group.status == "failed"
    assert str(failed.value.run_group.runs[0].error_description) in str(failed.value)


def test_wait_timeout_then_cancel(client: Client, world: World) -> None:
    started = client.rivers.run(world.slow_river)
    assert started.status in {"pending", "running"}
    with pytest.raises(WaitTimeout) as late:
        client.run_groups.wait(world.slow_river, started.run_group_id, timeout=1, poll_interval=0.3)
    assert late.value.run_group.run_group_id == started.run_group_id
    answer = client.rivers.cancel(world.slow_river, run_group_id=started.run_group_id)
    assert answer.cancel_requested
    ended = client.run_groups.wait(
        world.slow_river, started.run_group_id, timeout=60, poll_interval=0.3
    )
    assert ended.status == "canceled"
    with pytest.raises(Conflict, match="already ended"):
        client.rivers.cancel(world.slow_river, run_group_id=started.run_group_id)


def test_async_client_runs_waits_and_streams_logs(world: World) -> None:
    async def scenario() -> tuple[str, int, int]:
        async with AsyncClient(base_url=world.url, token=world.token) as client:
            river = await client.rivers.get(world.good_river)
            group = await client.rivers.run(river.name, wait=True, poll_interval=0.3, timeout=120)
            lines = [line async for line in client.runs.logs(river.river_id, group.runs[0].run_id)]
            conns = await client.connections.list()
            start, end = window()
            stats = await client.activities.statistics(start, end, river=river.river_id)
            tokens = await client.tokens.list()
            assert stats.succeeded >= 2 and tokens
            assert (await client.runs.list(river.name, start, end))[0].river_id == river.river_id
            return group.status, len(lines), len(conns)

    status, lines, connections = anyio.run(scenario)
    assert status == "succeeded" and lines > 0 and connections >= 2


# -- connections and tokens ----------------------------------------------------------------------


def test_connections(client: Client, world: World) -> None:
    source = client.connections.get(f"{world.prefix} source")
    assert source.connection_id == world.source_id
    assert source.properties["password"] == "********"
    assert "postgres" in {t["connection_type"] for t in client.connections.types()}
    assert client.connections.test(world.source_id).ok
    body = {
        "connection_name": f"{world.prefix} scratch",
        "connection_type": "postgres",
        "properties": {**source.properties, "password": "unused-with-trust"},
    }
    made = client.connections.create(body)
    body["connection_name"] = f"{world.prefix} scratch 2"
    assert client.connections.update(made.connection_id, body).connection_name.endswith("2")
    assert made.connection_id in {c.connection_id for c in client.connections.list()}
    client.connections.delete(body["connection_name"])
    with pytest.raises(NotFound):
        client.connections.get(made.connection_id)


def test_tokens_for_admins(client: Client, world: World) -> None:
    created = client.tokens.create("client test", ["river:list"])
    assert created.token and created.scopes == ["river:list"]
    assert created.id in {t.id for t in client.tokens.list()}
    assert client.tokens.get(created.id).name == "client test"
    ids = {"account_id": world.account_id, "environment_id": world.environment_id}
    with Client(base_url=world.url, token=created.token, **ids) as narrow:
        assert narrow.rivers.get(world.good_river_id).name == world.good_river
        with pytest.raises(PermissionDenied) as denied:
            narrow.rivers.run(world.good_river_id)
        assert denied.value.status_code == 403
    client.tokens.delete(created.id)
    with (
        Client(base_url=world.url, token=created.token) as gone,
        pytest.raises(AuthenticationError),
    ):
        gone.rivers.list()
