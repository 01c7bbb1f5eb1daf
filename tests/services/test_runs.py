"""Run lifecycle on both backends: one group in flight, derived statuses, cancel, logs, reaping."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from headwater.errors import Conflict, InvalidInput, NotFound
from headwater.services import runs as run_service
from headwater.services.bootstrap import BootstrapResult
from headwater.services.runs import RiverRef, TaskPlan, derive_group_status
from headwater.store.models.runs import Run, RunGroup
from tests.conftest import FakeClock, statements_sent

RIVER = "a" * 24
TASKS = [TaskPlan("public.a", "public.a", "a"), TaskPlan("public.b", "public.b", "b")]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "succeeded"),
        (["pending", "pending"], "pending"),
        (["pending", "running"], "running"),
        (["succeeded", "pending"], "running"),
        (["succeeded", "succeeded"], "succeeded"),
        (["succeeded", "failed"], "partially succeeded"),
        (["succeeded", "canceled"], "partially succeeded"),
        (["failed", "failed"], "failed"),
        (["failed", "canceled"], "failed"),
        (["canceled", "canceled"], "canceled"),
        (["skipped"], "skipped"),
        (["succeeded", "skipped"], "succeeded"),
    ],
)
def test_derive_group_status(statuses: list[str], expected: str) -> None:
    assert derive_group_status(statuses) == expected


def _river(bootstrap: BootstrapResult, river_id: str = RIVER) -> RiverRef:
    return RiverRef(bootstrap.account_id, bootstrap.environment_id, river_id, "src_to_trgt")


def _trigger(
    session: Session, bootstrap: BootstrapResult, clock: FakeClock, **kw: object
) -> RunGroup:
    return run_service.trigger_river(
        session,
        _river(bootstrap),
        trigger="api",
        tasks=TASKS,
        now=clock(),
        **kw,  # type: ignore[arg-type]
    )


def test_trigger_creates_group_with_one_run_per_task(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    with sessions() as session:
        group = _trigger(session, bootstrap, clock, variables={"day": "2026-11-01"})
        assert len(group.id) == 32 and group.status == "pending"
        assert [r.target_name for r in group.runs] == ["a", "b"]
        assert all(r.status == "pending" and len(r.id) == 32 for r in group.runs)
        assert group.variables == {"day": "2026-11-01"}


def test_second_trigger_while_in_flight_is_skipped_naming_the_run(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    with sessions() as session:
        first = _trigger(session, bootstrap, clock)
    with sessions() as session:
        second = _trigger(session, bootstrap, clock)
        assert second.status == "skipped"
        assert first.id in (second.message or "")
        assert {r.status for r in second.runs} == {"skipped"}
        assert all(first.id in r.details["message"] for r in second.runs)
    with sessions() as session:
        for run in session.get_one(RunGroup, first.id).runs:
            run_service.mark_running(session, run, now=clock(), worker="w")
            run_service.finish_run(session, run, status="succeeded", now=clock(), rows=5)
    with sessions() as session:
        third = _trigger(session, bootstrap, clock)
        assert third.status == "pending"


def test_a_trigger_reads_nothing_back_and_answers_from_what_it_wrote(
    engine: Engine, sessions: sessionmaker[Session], bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    """A trigger's group and runs go out in one flush and come back loaded: no refresh, no lazy
    load of the runs (each was a round trip on one of the API's most frequent requests). A
    skipped trigger reads only the group in flight, for its message."""

    def reads(statements: list[str]) -> int:
        return sum(1 for sql in statements if sql.lstrip().upper().startswith("SELECT"))

    with statements_sent(engine) as seen, sessions() as session:
        first = _trigger(session, bootstrap, clock)
        answered = [(r.target_name, r.status, r.position, r.details) for r in first.runs]
    reads_pending = reads(seen)
    with statements_sent(engine) as seen, sessions() as session:
        second = _trigger(session, bootstrap, clock)
        skipped = [(r.target_name, r.status, r.run_group_id) for r in second.runs]
    reads_skipped = reads(seen)
    assert answered == [("a", "pending", 0, {}), ("b", "pending", 1, {})]
    assert skipped == [("a", "skipped", second.id), ("b", "skipped", second.id)]
    assert (reads_pending, reads_skipped) == (0, 1)
    with sessions() as session:  # what the answer showed is what was stored
        stored = session.get_one(RunGroup, first.id)
        assert [(r.target_name, r.status, r.position) for r in stored.runs] == [
            (a[0], a[1], a[2]) for a in answered
        ]


def test_group_settles_from_runs_and_failed_runs_cost_nothing(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    with sessions() as session:
        group = _trigger(session, bootstrap, clock)
        ok, bad = group.runs
        run_service.mark_running(session, ok, now=clock(), worker="w")
        assert session.get_one(RunGroup, group.id).status == "running"
        clock.advance(seconds=3)
        run_service.finish_run(
            session, ok, status="succeeded", now=clock(), rows=10, size=100, units=Decimal("1.5")
        )
        run_service.mark_running(session, bad, now=clock(), worker="w")
        clock.advance(seconds=4)
        run_service.finish_run(
            session, bad, status="failed", now=clock(), rows=3, units=Decimal(9), error="boom"
        )
    with sessions() as session:
        settled = session.get_one(RunGroup, group.id)
        assert settled.status == "partially succeeded"
        assert settled.units == Decimal("1.5")
        assert settled.total_rows == 13 and settled.total_size == 100
        assert settled.end_time == clock()
        assert settled.in_flight_river_id is None
        failed = session.get_one(Run, bad.id)
        assert failed.units == 0 and failed.error_description == "boom"


def test_cancel_ends_pending_runs_and_rejects_finished_groups(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    with sessions() as session:
        group = _trigger(session, bootstrap, clock)
        run_service.mark_running(session, group.runs[0], now=clock(), worker="w")
        canceled = run_service.request_cancel(
            session, river_id=RIVER, run_group_id=group.id, now=clock()
        )
        assert canceled.cancel_requested
        assert [r.status for r in canceled.runs] == ["running", "canceled"]
        assert run_service.cancel_requested(session, group.id)
        run_service.finish_run(session, group.runs[0], status="canceled", now=clock())
        assert session.get_one(RunGroup, group.id).status == "canceled"
        with pytest.raises(Conflict, match="already ended"):
            run_service.request_cancel(
                session, river_id=RIVER, run_id=group.runs[0].id, now=clock()
            )
        with pytest.raises(InvalidInput):
            run_service.request_cancel(session, river_id=RIVER, now=clock())
        with pytest.raises(NotFound):
            run_service.request_cancel(
                session, river_id="b" * 24, run_group_id=group.id, now=clock()
            )


def test_logs_are_csv_in_order(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    with sessions() as session:
        run_id = _trigger(session, bootstrap, clock).runs[0].id
        run_service.append_log(session, run_id, "info", "started, with a comma", clock())
        clock.advance(seconds=1)
        run_service.append_log(session, run_id, "ERROR", 'quote " inside', clock())
        lines = run_service.logs_csv(session, run_id).splitlines()
    assert lines[0] == "timestamp,level,msg"
    assert lines[1] == '2026-11-01T12:00:00+00:00,INFO,"started, with a comma"'
    assert lines[2] == '2026-11-01T12:00:01+00:00,ERROR,"quote "" inside"'


def test_reaper_fails_runs_with_stale_heartbeat_and_frees_the_river(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult, clock: FakeClock
) -> None:
    with sessions() as session:
        group = _trigger(session, bootstrap, clock)
        alive, dead = group.runs
        run_service.mark_running(session, alive, now=clock(), worker="w1")
        run_service.mark_running(session, dead, now=clock(), worker="w2")
        clock.advance(seconds=40)
        run_service.heartbeat(session, [alive.id], clock())
        lost = run_service.fail_lost_runs(session, now=clock(), stale_after=timedelta(seconds=30))
        assert lost == [dead.id]
        assert session.get_one(Run, dead.id).error_description == run_service.LOST_WORKER_MESSAGE
        assert "worker lost" in run_service.logs_csv(session, dead.id)
        run_service.finish_run(session, alive, status="succeeded", now=clock())
        assert session.get_one(RunGroup, group.id).status == "partially succeeded"
        assert _trigger(session, bootstrap, clock).status == "pending"
