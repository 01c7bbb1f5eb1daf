"""Property tests: generated run histories, every Activities endpoint against a hand model.

SQLite only, to keep the suite quick; the example tests in ``test_activities.py`` cover
PostgreSQL. Each example clears the run tables and writes a fresh history, then compares the
API's answers with plain Python loops over the generated runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import BootstrapResult
from headwater.store.models.runs import GROUP_STATUSES, RUN_STATUSES, TRIGGERS
from tests.api.activities_data import (
    T0,
    GroupRow,
    History,
    RiverRow,
    RunRow,
    clear,
    expected_statistics,
    in_window,
    max_duration,
    ms,
    units_json,
    write,
)
from tests.api.tokenhelp import mint

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

GROUP_IDS = ["a" * 24, "b" * 24]
NAMES = ["Orders", "orders backup", "Events", "logic main", "Customers sync"]
SORT_SPELLINGS = {"units": "RPUs(Units)", "last_run": "last_run", "max_duration": "max_duration"}

ids = st.text("0123456789abcdef", min_size=32, max_size=32)
moments = st.builds(
    lambda minutes, micros: T0 + timedelta(minutes=minutes, microseconds=micros),
    # around midnights too, where a run moves from a window's edge to its whole days
    st.integers(-3 * 24 * 60, 35 * 24 * 60)
    | st.builds(lambda d, m: d * 24 * 60 + m, st.integers(-3, 35), st.integers(-1, 0)),
    st.sampled_from([0, 999, 999_500, 999_999]) | st.integers(0, 999_999),
)
units = st.integers(0, 3_000_000).map(lambda micro: Decimal(micro) / 1_000_000)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[RiverRow], list[GroupRow]]:
    river_count = draw(st.integers(1, 4))
    rivers = [
        RiverRow(
            id=f"{index:x}".rjust(24, "c"),
            name=NAMES[index],
            river_type=draw(st.sampled_from(["src_to_trgt", "logic", "actions"])),
            group_id=draw(st.sampled_from([None, *GROUP_IDS])),
            scheduled=draw(st.booleans()),
        )
        for index in range(river_count)
    ]
    groups: list[GroupRow] = []
    run_ids = iter(draw(st.lists(ids, min_size=30, max_size=30, unique=True)))
    for group_id in draw(st.lists(ids, max_size=10, unique=True)):
        river = draw(st.sampled_from(rivers))
        runs = [
            RunRow(
                id=run_id,
                status=draw(st.sampled_from(RUN_STATUSES)),
                units=draw(units),
                total_rows=draw(st.integers(0, 1000)),
                total_size=draw(st.integers(0, 10**9)),
                duration_ms=draw(st.none() | st.integers(0, 10**6)),
                target_name=draw(st.sampled_from([None, "t1", "t2"])),
                sub_river_id=draw(st.sampled_from([None, *(r.id for r in rivers)])),
            )
            for run_id in [next(run_ids) for _ in range(draw(st.integers(0, 3)))]
        ]
        groups.append(
            GroupRow(
                id=group_id,
                river_id=river.id,
                status=draw(st.sampled_from(GROUP_STATUSES)),
                start_time=draw(moments),
                trigger=draw(st.sampled_from(TRIGGERS)),
                runs=runs,
            )
        )
    return rivers, groups


# UTC midnights: windows of whole days are answered from run_daily_stats alone, windows with
# partial days from the summary plus the runs of their edges (migration 0013)
midnights = st.integers(-4, 36).map(lambda days: T0 + timedelta(days=days))


@st.composite
def windows(draw: st.DrawFn, groups: list[GroupRow]) -> tuple[datetime, datetime]:
    """Often exactly on a run's trigger time or a UTC midnight, to pin down the bounds."""
    times = [g.start_time for g in groups]
    edge = st.sampled_from(times) if times else moments
    start = draw(edge | moments | midnights)
    end = draw(edge | moments | midnights)
    if end <= start:
        start, end = end, start + timedelta(microseconds=1) if end == start else start
    return start, end


def spell(moment: datetime, style: int) -> str:
    if style == 0:
        return moment.replace(tzinfo=None).isoformat()
    if style == 1:
        return moment.isoformat().replace("+00:00", "Z")
    return (moment + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"


@dataclass
class Probe:
    client: httpx.AsyncClient
    headers: dict[str, str]
    prefix: str
    window: dict[str, str]
    start: datetime
    end: datetime

    async def get(self, path: str, **params: Any) -> Any:
        query = {**self.window, **{k: v for k, v in params.items() if v is not None}}
        response = await self.client.get(f"{self.prefix}{path}", params=query, headers=self.headers)
        assert response.status_code == 200, (path, params, response.text)
        return response.json()


def ordered(
    rows: list[Any], key: Callable[[Any], Any], tie: Callable[[Any], str], desc: bool
) -> list[Any]:
    return sorted(rows, key=lambda row: (key(row), tie(row)), reverse=desc)


def page_of(rows: list[Any], page: int, size: int) -> list[Any]:
    return rows[(page - 1) * size : page * size]


def check_envelope(body: dict[str, Any], total: int, page: int, size: int) -> None:
    assert body["total_items"] == total
    assert body["page"] == page and body["items_per_page"] == size
    assert body["current_page_size"] == len(body["items"])
    assert (body["next_page"] is not None) == (page * size < total)
    assert (body["previous_page"] is not None) == (page > 1)


async def check_environment(probe: Probe, history: History, data: st.DataObject) -> None:
    start, end = probe.start, probe.end
    runs = [r for r in history.runs if in_window(r.start_time, start, end)]

    statuses = data.draw(st.lists(st.sampled_from(RUN_STATUSES), max_size=2, unique=True))
    group_id = data.draw(st.sampled_from([None, *GROUP_IDS]))
    scheduled = data.draw(st.sampled_from([None, True, False]))
    search = data.draw(st.sampled_from([None, "orders", "LOGIC", "zzz"]))
    river_type = data.draw(st.sampled_from([None, "src_to_trgt", "logic", "action"]))
    wanted_type = {"action": "actions"}.get(river_type or "", river_type)

    def river_ok(river_id: str) -> bool:
        river = history.river(river_id)
        assert river is not None
        return (
            (group_id is None or river.group_id == group_id)
            and (scheduled is None or river.scheduled == scheduled)
            and (search is None or search.lower() in river.name.lower())
            and (wanted_type is None or river.river_type == wanted_type)
        )

    picked = [r for r in runs if (not statuses or r.status in statuses) and river_ok(r.river_id)]
    filters = {
        "status": ",".join(statuses) or None,
        "group_id": group_id,
        "is_scheduled": None if scheduled is None else str(scheduled).lower(),
        "search": search,
        "river_type": river_type,
    }
    assert await probe.get("/activities_statistics", **filters) == expected_statistics(picked)

    sort_key = data.draw(st.sampled_from(list(SORT_SPELLINGS)))
    desc = data.draw(st.booleans())
    size = data.draw(st.integers(1, 4))
    page = data.draw(st.integers(1, 3))
    by_river: dict[str, list[RunRow]] = {}
    for run in picked:
        by_river.setdefault(run.river_id, []).append(run)
    keys: dict[str, Callable[[str], Any]] = {
        "units": lambda rid: sum((r.units for r in by_river[rid]), Decimal(0)),
        "last_run": lambda rid: max(r.start_time for r in by_river[rid]),
        "max_duration": lambda rid: max_duration(by_river[rid]),
    }
    expected_ids = ordered(list(by_river), keys[sort_key], lambda rid: rid, desc)
    body = await probe.get(
        "/activities",
        **filters,
        sort_by=SORT_SPELLINGS[sort_key],
        sort_order="desc" if desc else "asc",
        page=page,
        items_per_page=size,
        return_last_runs="true",
    )
    check_envelope(body, len(expected_ids), page, size)
    assert [row["river_id"] for row in body["items"]] == page_of(expected_ids, page, size)
    for row in body["items"]:
        river_runs = by_river[row["river_id"]]
        river = history.river(row["river_id"])
        assert river is not None
        counts = expected_statistics(river_runs)
        assert {s: row[s] for s in RUN_STATUSES} == {s: counts[s] for s in RUN_STATUSES}
        assert row["units"] == counts["total_units"]
        assert row["total_rows"] == sum(r.total_rows for r in river_runs)
        assert row["total_size"] == sum(r.total_size for r in river_runs)
        assert row["last_run"] == ms(max(r.start_time for r in river_runs))
        assert row["max_duration_in_milliseconds"] == max_duration(river_runs)
        assert (row["river_name"], row["river_type"], row["group_id"], row["is_scheduled"]) == (
            river.name,
            river.river_type,
            river.group_id,
            river.scheduled,
        )
        latest = ordered(
            [
                g
                for g in history.groups
                if g.river_id == river.id and in_window(g.start_time, start, end)
            ],
            lambda g: g.start_time,
            lambda g: g.id,
            True,
        )[:5]
        assert row["last_runs"] == [
            {
                "run_group_id": g.id,
                "status": g.status,
                "units": units_json(sum((r.units for r in g.runs), Decimal(0))),
                "run_date": ms(g.start_time),
                "max_run_duration_milliseconds": max_duration(g.runs),
            }
            for g in latest
        ]


async def check_river(probe: Probe, history: History, river: RiverRow, data: st.DataObject) -> None:
    start, end = probe.start, probe.end
    groups = [
        g for g in history.groups if g.river_id == river.id and in_window(g.start_time, start, end)
    ]
    runs = [r for g in groups for r in g.runs]
    base = f"/{data.draw(st.sampled_from(['rivers', 'data flows', 'data_flows']))}/{river.id}"

    statuses = data.draw(st.lists(st.sampled_from(RUN_STATUSES), max_size=2, unique=True))
    target = data.draw(st.sampled_from([None, "t1", "t2"]))
    sub = data.draw(st.sampled_from([None, *(r.id for r in history.rivers)]))
    scheduler = data.draw(st.sampled_from([None, *(g.id for g in groups)]))
    picked = [
        r
        for r in runs
        if (not statuses or r.status in statuses)
        and (target is None or r.target_name == target)
        and (sub is None or r.sub_river_id == sub)
        and (scheduler is None or r.run_group_id == scheduler)
    ]
    filters = {
        "status": statuses or None,
        "target_name": target,
        "sub_river_id": sub,
        "scheduler_id": scheduler,
    }
    assert await probe.get(f"{base}/activities_statistics", **filters) == expected_statistics(
        picked
    )

    def latest_per(key: Callable[[RunRow], str | None]) -> dict[str, dict[str, Any]]:
        found: dict[str, list[RunRow]] = {}
        for run in picked:
            value = key(run)
            if value is not None:
                found.setdefault(value, []).append(run)
        return {
            name: {
                "status": max(rs, key=lambda r: (r.start_time, r.id)).status,
                "units": units_json(sum((r.units for r in rs), Decimal(0))),
                "last_run": ms(max(r.start_time for r in rs)),
                "total_rows": sum(r.total_rows for r in rs),
            }
            for name, rs in sorted(
                found.items(), key=lambda kv: (-max(r.start_time for r in kv[1]).timestamp(), kv[0])
            )
        }

    targets = await probe.get(f"{base}/activities_targets", **filters)
    assert targets == {
        "items": [{"target_name": k, **v} for k, v in latest_per(lambda r: r.target_name).items()]
    }
    subs = await probe.get(f"{base}/activities_sub_data_flows", **filters)
    names = {r.id: r.name for r in history.rivers}
    assert subs == {
        "items": [
            {
                "sub_river_id": k,
                "sub_river_name": names.get(k),
                "status": v["status"],
                "units": v["units"],
                "last_run": v["last_run"],
            }
            for k, v in latest_per(lambda r: r.sub_river_id).items()
        ]
    }

    sort_key = data.draw(st.sampled_from(list(SORT_SPELLINGS)))
    desc = data.draw(st.booleans())
    size = data.draw(st.integers(1, 4))
    page = data.draw(st.integers(1, 3))
    paging = {
        "sort_by": SORT_SPELLINGS[sort_key],
        "sort_order": "desc" if desc else "asc",
        "page": page,
        "items_per_page": size,
    }

    run_keys: dict[str, Callable[[RunRow], Any]] = {
        "units": lambda r: r.units,
        "last_run": lambda r: r.start_time,
        "max_duration": lambda r: r.duration_ms or 0,
    }
    expected_runs = ordered(picked, run_keys[sort_key], lambda r: r.id, desc)
    body = await probe.get(f"{base}/runs", **filters, **paging)
    check_envelope(body, len(expected_runs), page, size)
    for got, run in zip(body["items"], page_of(expected_runs, page, size), strict=True):
        assert got["run_id"] == run.id and got["run_group_id"] == run.run_group_id
        assert (got["status"], got["units"], got["total_rows"], got["total_size"]) == (
            run.status,
            units_json(run.units),
            run.total_rows,
            run.total_size,
        )
        assert got["start_date_in_milliseconds"] == ms(run.start_time)
        assert got["end_date_in_milliseconds"] == (ms(run.end_time) if run.end_time else 0)
        assert got["is_sub_river_run"] == (run.sub_river_id is not None)

    group_statuses = data.draw(st.lists(st.sampled_from(GROUP_STATUSES), max_size=2, unique=True))
    chosen = [
        g
        for g in groups
        if (not group_statuses or g.status in group_statuses)
        and (scheduler is None or g.id == scheduler)
        # a group qualifies through one run that matches every run filter
        and (
            (target is None and sub is None)
            or any(
                (target is None or r.target_name == target)
                and (sub is None or r.sub_river_id == sub)
                for r in g.runs
            )
        )
    ]
    group_keys: dict[str, Callable[[GroupRow], Any]] = {
        "units": lambda g: sum((r.units for r in g.runs), Decimal(0)),
        "last_run": lambda g: g.start_time,
        "max_duration": lambda g: max_duration(g.runs),
    }
    expected_groups = ordered(chosen, group_keys[sort_key], lambda g: g.id, desc)
    body = await probe.get(
        f"{base}/activities_run_groups",
        status=[s.replace("succeeded", "succeed") for s in group_statuses] or None,
        target_name=target,
        sub_river_id=sub,
        scheduler_id=scheduler,
        **paging,
    )
    check_envelope(body, len(expected_groups), page, size)
    assert [g["run_group_id"] for g in body["items"]] == [
        g.id for g in page_of(expected_groups, page, size)
    ]
    for got in body["items"]:
        group = next(g for g in groups if g.id == got["run_group_id"])
        assert got["units"] == units_json(group_keys["units"](group))
        assert got["max_duration_in_milliseconds"] == max_duration(group.runs)
        assert got["run_date_epoch_milliseconds"] == ms(group.start_time)
        assert (got["status"], got["trigger"]) == (group.status, group.trigger)

    for group in groups[:1]:
        detail = await probe.get(f"{base}/activities_run_groups/{group.id}")
        counts = expected_statistics(group.runs)
        assert {s: detail[s] for s in RUN_STATUSES} == {s: counts[s] for s in RUN_STATUSES}
        assert detail["total_runs"] == len(group.runs) and detail["units"] == counts["total_units"]
        assert detail["total_rows"] == sum(r.total_rows for r in group.runs)


@settings(
    max_examples=40,
    # no shrinking: a failure prints its (unshrunk) example quickly instead of searching for
    # minutes; enable Phase.shrink locally to minimise one
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(generated=histories(), data=st.data())
def test_every_endpoint_matches_the_model(
    app: FastAPI,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
    generated: tuple[list[RiverRow], list[GroupRow]],
    data: st.DataObject,
) -> None:
    rivers, groups = generated
    history = History(bootstrap.account_id, bootstrap.environment_id, rivers)
    for group in groups:
        history.add_group(group)
    start, end = data.draw(windows(groups))
    style = data.draw(st.integers(0, 2))
    with sessions() as session:
        clear(session)
        write(session, history)
    token = mint(sessions, bootstrap.account_id, created_by=None, scopes=["activities:list"])
    window = {"start_time": spell(start, style), "end_time": spell(end, style)}

    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            prefix = f"/v1/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
            probe = Probe(client, token.headers, prefix, window, start, end)
            await check_environment(probe, history, data)
            await check_river(probe, history, data.draw(st.sampled_from(rivers)), data)

    anyio.run(run)
