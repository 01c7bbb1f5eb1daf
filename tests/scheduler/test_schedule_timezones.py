"""Schedules read in a time zone: the scheduler fires ``0 9 * * *`` in ``Europe/Paris`` at 09:00
Paris time on both sides of a change of the clocks (injected clock, no sleeping), a zone change
is recomputed, the console's preview lists the same instants, and the API refuses an unknown
zone by name."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.runner.context import RunnerContext
from headwater.scheduler.service import tick
from headwater.schemas.cron import next_fires
from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from headwater.store.models.rivers import River
from headwater.store.models.runs import RunGroup, ScheduleState
from headwater.web.builder_schedule import next_fires as preview
from tests.api.rivers_help import create_connection, env_path, logic_body
from tests.conftest import FakeClock


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_paris_nine_oclock_across_the_spring_and_autumn_changes() -> None:
    spring = next_fires("0 9 * * *", _utc(2026, 3, 27, 12), "Europe/Paris", 3)
    assert spring == [_utc(2026, 3, 28, 8), _utc(2026, 3, 29, 7), _utc(2026, 3, 30, 7)]
    autumn = next_fires("0 9 * * *", _utc(2026, 10, 24, 12), "Europe/Paris", 2)
    assert autumn == [_utc(2026, 10, 25, 8), _utc(2026, 10, 26, 8)]
    # New York changes on other dates: 09:00 EST is 14:00 UTC, 09:00 EDT 13:00 UTC.
    assert next_fires("0 9 * * *", _utc(2026, 3, 7, 20), "America/New_York", 2) == [
        _utc(2026, 3, 8, 13),
        _utc(2026, 3, 9, 13),
    ]
    assert next_fires("0 9 * * *", _utc(2026, 3, 6, 20), "America/New_York", 1) == [
        _utc(2026, 3, 7, 14)
    ]


def test_skipped_and_repeated_wall_clock_times() -> None:
    # 02:30 does not exist on 29 March in Paris: it fires at 03:00 local, after the gap.
    assert next_fires("30 2 * * *", _utc(2026, 3, 28, 12), "Europe/Paris", 2) == [
        _utc(2026, 3, 29, 1),
        _utc(2026, 3, 30, 0, 30),
    ]
    # 02:30 happens twice on 25 October: a daily job fires once.
    assert next_fires("30 2 * * *", _utc(2026, 10, 24, 12), "Europe/Paris", 2) == [
        _utc(2026, 10, 25, 0, 30),
        _utc(2026, 10, 26, 1, 30),
    ]
    # An interval job keeps its interval through the repeated hour.
    halves = next_fires("*/30 * * * *", _utc(2026, 10, 24, 23, 45), "Europe/Paris", 6)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(halves)] == [1800.0] * 5


def test_preview_lists_the_instants_the_scheduler_uses() -> None:
    now = _utc(2026, 3, 27, 12)
    shown = preview("0 9 * * *", now, "Europe/Paris")
    assert shown[0] == "Sat 2026-03-28 09:00 CET (08:00 UTC)"
    assert shown[1] == "Sun 2026-03-29 09:00 CEST (07:00 UTC)"
    assert preview("0 9 * * *", now, "Mars/Olympus") == []


def _river(sessions: sessionmaker[Session], boot: BootstrapResult, zone: str | None) -> str:
    with sessions() as session:
        river = River(
            account_id=boot.account_id,
            environment_id=boot.environment_id,
            name=f"paris {zone}",
            river_type="logic",
            status="active",
            definition={"name": "paris", "type": "logic"},
            cron_expression="0 9 * * *",
            schedule_enabled=True,
            schedule_timezone=zone,
        )
        session.add(river)
        session.commit()
        return river.id


def _fired(sessions: sessionmaker[Session], river_id: str) -> int:
    with sessions() as session:
        groups = session.scalars(select(RunGroup).where(RunGroup.river_id == river_id)).all()
        for group in groups:  # settle, so the next due time may start a run
            group.status, group.in_flight_river_id = "succeeded", None
        session.commit()
        return len(groups)


def test_scheduler_fires_at_nine_paris_time_across_the_change(
    settings: Settings, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    clock = FakeClock(now=_utc(2026, 3, 28, 6))
    context = RunnerContext(
        settings=settings, sessions=sessions, clock=clock, submit=lambda _: None
    )
    river_id = _river(sessions, bootstrap, "Europe/Paris")
    assert tick(context) == []  # first sight: 09:00 CET = 08:00 UTC is recorded
    clock.now = _utc(2026, 3, 28, 7, 59)
    assert tick(context) == []
    clock.now = _utc(2026, 3, 28, 8, 0)
    assert len(tick(context)) == 1 and _fired(sessions, river_id) == 1
    with sessions() as session:
        state = session.get_one(ScheduleState, river_id)
        assert state.next_fire_at is not None
        assert state.next_fire_at.replace(tzinfo=UTC) == _utc(2026, 3, 29, 7)  # 09:00 CEST
    clock.now = _utc(2026, 3, 29, 6, 59)
    assert tick(context) == []
    clock.now = _utc(2026, 3, 29, 7, 0)
    assert len(tick(context)) == 1 and _fired(sessions, river_id) == 2

    # Another zone for the same cron is recomputed from now, like a changed cron.
    with sessions() as session:
        session.get_one(River, river_id).schedule_timezone = "Asia/Tokyo"
        session.commit()
    assert tick(context) == []
    with sessions() as session:
        state = session.get_one(ScheduleState, river_id)
        assert state.timezone == "Asia/Tokyo"
        assert state.next_fire_at is not None
        assert state.next_fire_at.replace(tzinfo=UTC) == _utc(2026, 3, 30, 0)  # 09:00 JST


@pytest.mark.anyio
async def test_api_stores_the_zone_and_refuses_an_unknown_one(
    client: httpx.AsyncClient,
    make_token: Callable[..., dict[str, str]],
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
) -> None:
    headers = make_token()
    connection = await create_connection(client, bootstrap, headers)
    body = logic_body(connection)
    body["schedulers"] = [{"cron_expression": "0 9 * * *", "timezone": "Mars/Olympus"}]
    refused = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["detail"]
    assert error["loc"][-3:] == ["schedulers", 0, "timezone"]
    assert "unknown time zone 'Mars/Olympus'" in error["msg"]

    body["schedulers"] = [{"cron_expression": "0 9 * * *", "timezone": "Europe/Paris"}]
    created = await client.post(env_path(bootstrap, "/rivers"), json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["schedulers"] == [
        {"cron_expression": "0 9 * * *", "is_enabled": True, "timezone": "Europe/Paris"}
    ]
    with sessions() as session:
        river = session.get_one(River, created.json()["river_id"])
        assert river.schedule_timezone == "Europe/Paris"
