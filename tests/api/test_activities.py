"""Activities API examples on SQLite and PostgreSQL: every endpoint, spelling and shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.activities import _rollup_statements
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from tests.api.activities_data import (
    T0,
    GroupRow,
    History,
    RiverRow,
    RunRow,
    ms,
    oid,
    rid,
    write,
)
from tests.api.tokenhelp import mint

pytestmark = pytest.mark.anyio

WINDOW = {"start_time": "2026-03-01T00:00:00", "end_time": "2026-04-01T00:00:00"}


@dataclass
class Ctx:
    client: httpx.AsyncClient
    headers: dict[str, str]
    history: History
    env: str
    logic: RiverRow
    tables: RiverRow
    sub: RiverRow

    @property
    def prefix(self) -> str:
        return f"/v1/accounts/{self.history.account_id}/environments/{self.env}"

    async def get(self, path: str, **params: object) -> httpx.Response:
        query = {**WINDOW, **params}
        return await self.client.get(f"{self.prefix}{path}", params=query, headers=self.headers)


def build_history(
    account_id: str, environment_id: str
) -> tuple[History, RiverRow, RiverRow, RiverRow]:
    group_id = oid()
    tables = RiverRow(oid(), "Orders to warehouse", "src_to_trgt", group_id, scheduled=True)
    logic = RiverRow(oid(), "nightly logic", "logic")
    sub = RiverRow(oid(), "sub step", "actions")
    history = History(account_id, environment_id, [tables, logic, sub])
    history.add_group(
        GroupRow(
            rid(),
            tables.id,
            "partially succeeded",
            T0 + timedelta(days=1),
            trigger="scheduler",
            runs=[
                RunRow(rid(), "succeeded", Decimal("1.5"), 100, 1000, 2000, "orders"),
                RunRow(
                    rid(), "failed", Decimal("0"), 0, 0, 500, "customers", error_description="boom"
                ),
            ],
        )
    )
    history.add_group(
        GroupRow(
            rid(),
            tables.id,
            "succeeded",
            T0 + timedelta(days=2),
            runs=[
                RunRow(rid(), "succeeded", Decimal("0.25"), 10, 100, 7000, "orders"),
                RunRow(rid(), "succeeded", Decimal("0.000001"), 1, 10, 100, "customers"),
            ],
        )
    )
    history.add_group(
        GroupRow(
            rid(),
            logic.id,
            "running",
            T0 + timedelta(days=3),
            trigger="api",
            runs=[
                RunRow(rid(), "succeeded", Decimal("2"), 5, 50, 1000, sub_river_id=sub.id),
                RunRow(rid(), "running", Decimal("0"), sub_river_id=sub.id),
            ],
        )
    )
    # outside the window: must not count
    history.add_group(
        GroupRow(
            rid(),
            tables.id,
            "succeeded",
            T0 + timedelta(days=31),
            runs=[RunRow(rid(), "succeeded", Decimal("9"), 9, 9, 9, "orders")],
        )
    )
    return history, logic, tables, sub


@pytest.fixture
async def ctx(
    client: httpx.AsyncClient, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> Ctx:
    history, logic, tables, sub = build_history(bootstrap.account_id, bootstrap.environment_id)
    with sessions() as session:
        write(session, history)
    token = mint(
        sessions, bootstrap.account_id, created_by=bootstrap.admin_id, scopes=["activities:list"]
    )
    return Ctx(client, token.headers, history, bootstrap.environment_id, logic, tables, sub)


async def test_environment_statistics_count_runs_in_the_window(ctx: Ctx) -> None:
    response = await ctx.get("/activities_statistics")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "running": 1,
        "pending": 0,
        "succeeded": 4,
        "failed": 1,
        "canceled": 0,
        "skipped": 0,
        "total_units": 3.750001,
        "total_rpu": 3.750001,
    }
    filtered = (
        await ctx.get("/activities_statistics", status="succeed", river_type="logic")
    ).json()
    assert filtered["succeeded"] == 1 and filtered["failed"] == 0 and filtered["total_units"] == 2


async def test_river_statistics_under_every_spelling(ctx: Ctx) -> None:
    bodies = []
    for segment in ("rivers", "data flows", "data_flows", "data%20flows"):
        response = await ctx.get(f"/{segment}/{ctx.tables.id}/activities_statistics")
        assert response.status_code == 200, (segment, response.text)
        bodies.append(response.json())
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["succeeded"] == 3 and bodies[0]["failed"] == 1
    assert bodies[0]["total_units"] == 1.750001


async def test_activities_rollup_rows_and_last_runs(ctx: Ctx) -> None:
    response = await ctx.get("/activities", return_last_runs="true", sort_by="RPUs(Units)")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_items"] == 2 and body["current_page_size"] == 2
    assert body["account_id"] == ctx.history.account_id and body["environment_id"] == ctx.env
    assert body["next_page"] is None and body["previous_page"] is None
    logic_row, tables_row = body["items"]
    assert logic_row["river_id"] == ctx.logic.id and logic_row["units"] == 2
    assert tables_row == {
        "river_id": ctx.tables.id,
        "river_name": "Orders to warehouse",
        "river_type": "src_to_trgt",
        "group_id": ctx.tables.group_id,
        "is_scheduled": True,
        "succeeded": 3,
        "failed": 1,
        "running": 0,
        "pending": 0,
        "canceled": 0,
        "skipped": 0,
        "units": 1.750001,
        "total_rows": 111,
        "total_size": 1110,
        "last_run": ms(T0 + timedelta(days=2)),
        "max_duration_in_milliseconds": 7000,
        "last_runs": [
            {
                "run_group_id": ctx.history.groups[1].id,
                "status": "succeeded",
                "units": 0.250001,
                "run_date": ms(T0 + timedelta(days=2)),
                "max_run_duration_milliseconds": 7000,
            },
            {
                "run_group_id": ctx.history.groups[0].id,
                "status": "partially succeeded",
                "units": 1.5,
                "run_date": ms(T0 + timedelta(days=1)),
                "max_run_duration_milliseconds": 2000,
            },
        ],
    }
    plain = (await ctx.get("/activities", search="ORDERS", is_scheduled="true")).json()
    assert [row["river_id"] for row in plain["items"]] == [ctx.tables.id]
    assert "last_runs" not in plain["items"][0]


async def test_a_rollup_statement_is_built_once_per_shape_of_request(ctx: Ctx) -> None:
    """Requests that differ only in their window, page or environment reuse one statement,
    and each still answers for its own values; a new filter is a new shape."""
    _rollup_statements.cache_clear()
    march = (await ctx.get("/activities", sort_by="RPUs(Units)")).json()
    # other whole days (the same shape), page 2 of one row each: the logic river's units are 2
    later = {"start_time": "2026-03-03T00:00:00", "end_time": "2026-05-01T00:00:00"}
    paged = await ctx.client.get(
        f"{ctx.prefix}/activities",
        params={**later, "sort_by": "RPUs(Units)", "page": 2, "items_per_page": 1},
        headers=ctx.headers,
    )
    assert _rollup_statements.cache_info()[:2] == (1, 1)  # (hits, misses)
    assert [row["river_id"] for row in march["items"]] == [ctx.logic.id, ctx.tables.id]
    rows = paged.json()["items"]
    assert paged.json()["total_items"] == 2 and [r["river_id"] for r in rows] == [ctx.logic.id]
    assert rows[0]["units"] == 2 and rows[0]["succeeded"] == 1
    # an edge of a day and a filter: two more shapes
    await ctx.get("/activities", start_time="2026-03-02T12:00:00")
    await ctx.get("/activities", search="100%_sure")
    assert _rollup_statements.cache_info()[:2] == (1, 3)


async def test_targets_sub_rivers_and_run_groups(ctx: Ctx) -> None:
    targets = (await ctx.get(f"/data flows/{ctx.tables.id}/activities_targets")).json()
    assert targets == {
        "items": [
            {
                "target_name": "customers",
                "status": "succeeded",
                "units": 0.000001,
                "last_run": ms(T0 + timedelta(days=2)),
                "total_rows": 1,
            },
            {
                "target_name": "orders",
                "status": "succeeded",
                "units": 1.75,
                "last_run": ms(T0 + timedelta(days=2)),
                "total_rows": 110,
            },
        ]
    }
    # both sub runs share a trigger time: the tie goes to the larger run id
    latest = max(ctx.history.groups[2].runs, key=lambda run: run.id)
    for spelling in (
        "activities_sub_rivers",
        "activities_sub_data flows",
        "activities_sub_data_flows",
    ):
        subs = await ctx.get(f"/rivers/{ctx.logic.id}/{spelling}")
        assert subs.status_code == 200, spelling
        assert subs.json() == {
            "items": [
                {
                    "sub_river_id": ctx.sub.id,
                    "sub_river_name": "sub step",
                    "status": latest.status,
                    "units": 2,
                    "last_run": ms(T0 + timedelta(days=3)),
                }
            ]
        }
    groups = (await ctx.get(f"/data_flows/{ctx.tables.id}/activities_run_groups")).json()
    assert [g["run_group_id"] for g in groups["items"]] == [
        ctx.history.groups[1].id,
        ctx.history.groups[0].id,
    ]
    first = groups["items"][1]
    assert first["status"] == "partially succeeded" and first["units"] == 1.5
    assert first["max_duration_in_milliseconds"] == 2000 and first["trigger"] == "scheduler"
    assert first["run_date_epoch_milliseconds"] == ms(T0 + timedelta(days=1))
    assert first["run_date_utc"].startswith("2026-03-02T00:00:00")
    partial = (
        await ctx.get(f"/rivers/{ctx.tables.id}/activities_run_groups", status="partially succeed")
    ).json()
    assert [g["run_group_id"] for g in partial["items"]] == [ctx.history.groups[0].id]
    detail = (
        await ctx.get(f"/rivers/{ctx.tables.id}/activities_run_groups/{ctx.history.groups[0].id}")
    ).json()
    assert detail["succeeded"] == 1 and detail["failed"] == 1 and detail["total_runs"] == 2
    assert detail["units"] == 1.5 and detail["status"] == "partially succeeded"


async def test_runs_list_shape_and_paging_links(ctx: Ctx) -> None:
    response = await ctx.get(
        f"/rivers/{ctx.tables.id}/runs",
        items_per_page=3,
        sort_order="asc",
        sort_by="last_run",
        scheduler_id="",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_items"] == 4 and body["current_page_size"] == 3
    assert body["previous_page"] is None
    assert body["next_page"].startswith(
        f"http://testserver{ctx.prefix}/rivers/{ctx.tables.id}/runs?"
    )
    assert "page=2" in body["next_page"] and "items_per_page=3" in body["next_page"]
    run = body["items"][0]
    assert set(run) == {
        "run_id",
        "run_group_id",
        "river_id",
        "sub_river_id",
        "is_sub_river_run",
        "source_name",
        "target_name",
        "status",
        "error_description",
        "units",
        "total_rows",
        "total_size",
        "start_date_utc",
        "end_date_utc",
        "start_date_in_milliseconds",
        "end_date_in_milliseconds",
        "trigger",
        # Headwater extensions (change capture), null for other runs
        "cdc_lag_seconds",
        "cdc_lag_bytes",
        "cdc_retained_bytes",
        # Headwater extension: the parts of a table split across Celery workers
        "parts",
    }
    assert run["parts"] == []
    assert run["start_date_in_milliseconds"] == ms(T0 + timedelta(days=1))
    page2 = (await ctx.client.get(body["next_page"], headers=ctx.headers)).json()
    assert page2["current_page_size"] == 1 and page2["previous_page"] is not None
    spaced = (await ctx.get(f"/data flows/{ctx.tables.id}/runs", items_per_page=1)).json()
    assert f"/data%20flows/{ctx.tables.id}/runs?" in spaced["next_page"]
    running = (await ctx.get(f"/rivers/{ctx.logic.id}/runs", status="running")).json()
    assert running["items"][0]["end_date_in_milliseconds"] == 0
    assert running["items"][0]["is_sub_river_run"] is True


TIME_SPELLINGS = [
    ("2026-03-01T00:00:00", "2026-04-01T00:00:00"),
    ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
    ("2026-03-01T02:00:00+02:00", "2026-04-01T02:00:00+02:00"),
    ("2026-03-01T02:00:00 02:00", "2026-04-01T02:00:00 02:00"),  # an unencoded "+"
    (str(ms(T0)), str(ms(T0 + timedelta(days=31)))),
]

BAD_INPUT = [
    ({"end_time": "2026-02-01T00:00:00"}, "end_time"),
    ({"end_time": "2026-03-01T00:00:00"}, "end_time"),
    ({"status": "exploded"}, "status"),
    ({"items_per_page": "0"}, "items_per_page"),
    ({"items_per_page": "201"}, "items_per_page"),
    ({"start_time": "yesterday"}, "start_time"),
    ({"end_time": "2026-13-01"}, "end_time"),
    ({"sort_by": "popularity"}, "sort_by"),
    ({"sort_order": "sideways"}, "sort_order"),
    ({"river_type": "pipeline"}, "river_type"),
    ({"page": "0"}, "page"),
    ({"is_scheduled": "maybe"}, "is_scheduled"),
]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_every_time_format_gives_the_same_window(ctx: Ctx) -> None:
    for start, end in TIME_SPELLINGS:
        response = await ctx.get("/activities_statistics", start_time=start, end_time=end)
        assert response.status_code == 200, (start, response.text)
        body = response.json()
        assert body["succeeded"] == 4 and body["total_units"] == 3.750001, start


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_bad_input_is_422_naming_the_parameter(ctx: Ctx) -> None:
    for params, name in BAD_INPUT:
        response = await ctx.get("/activities", **params)
        assert response.status_code == 422, (params, response.text)
        assert ["query", name] in [error["loc"] for error in response.json()["detail"]], params


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_run_status_partially_succeeded_is_for_groups_only(ctx: Ctx) -> None:
    response = await ctx.get(f"/rivers/{ctx.tables.id}/runs", status="partially succeeded")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "status"]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_window_is_required(ctx: Ctx) -> None:
    response = await ctx.client.get(f"{ctx.prefix}/activities_statistics", headers=ctx.headers)
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {
        ("query", "start_time"),
        ("query", "end_time"),
    }


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_empty_values_are_absent(ctx: Ctx) -> None:
    url = (
        f"{ctx.prefix}/data%20flows/{ctx.tables.id}/activities_targets?"
        "start_time=2026-03-01T00:00:00&end_time=2026-04-01T00:00:00&scheduler_id"
        "&status=&page=&items_per_page=&sort_by=&sort_order=&is_scheduled=&return_last_runs="
    )
    response = await ctx.client.get(url, headers=ctx.headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 2


async def test_auth_scope_and_ownership(ctx: Ctx, sessions: sessionmaker[Session]) -> None:
    path = f"{ctx.prefix}/activities_statistics"
    assert (await ctx.client.get(path, params=WINDOW)).status_code == 401
    other = mint(sessions, ctx.history.account_id, created_by=None, scopes=["river:list"])
    forbidden = await ctx.client.get(path, params=WINDOW, headers=other.headers)
    assert forbidden.status_code == 403 and "activities:list" in forbidden.json()["detail"]
    missing = await ctx.get(f"/rivers/{oid()}/runs")
    assert missing.status_code == 404
    unknown_group = await ctx.get(f"/rivers/{ctx.tables.id}/activities_run_groups/{rid()}")
    assert unknown_group.status_code == 404
    wrong_river = await ctx.get(
        f"/rivers/{ctx.logic.id}/activities_run_groups/{ctx.history.groups[0].id}"
    )
    assert wrong_river.status_code == 404


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_paging_links_use_the_public_url(ctx: Ctx, app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.settings = settings.model_copy(update={"public_url": "https://hw.example.com/"})
    body = (await ctx.get("/activities", items_per_page=1, page=2, search="")).json()
    assert body["previous_page"].startswith(f"https://hw.example.com{ctx.prefix}/activities?")
    assert "page=1" in body["previous_page"] and "items_per_page=1" in body["previous_page"]
    assert "start_time=2026-03-01T00%3A00%3A00" in body["previous_page"]
    assert body["next_page"] is None and body["total_items"] == 2
