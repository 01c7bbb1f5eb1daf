"""The ``/metrics`` run totals (migration 0023) always equal an aggregate over the runs.

The totals are kept by triggers that append deltas, folded by each scrape; every way run
groups and runs are written is exercised (lifecycle services, ORM edits, Core multi-row
UPDATEs and DELETEs, a group deleted with its runs by the database's cascade), on both
backends, and each time :func:`collect` must equal :func:`scan`, the old full aggregate.
A scrape's statement count does not grow with the number of runs.
"""

from __future__ import annotations

import math
import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, delete, func, inspect, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from headwater.services import run_metrics
from headwater.services import runs as run_service
from headwater.services.bootstrap import BootstrapResult
from headwater.services.run_metrics import RunMetrics
from headwater.services.runs import RiverRef, TaskPlan
from headwater.store.models.run_stats import RunMetricDelta, RunMetricTotal
from headwater.store.models.runs import GROUP_STATUSES, RUN_STATUSES, Run, RunGroup
from tests.conftest import statements_sent

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TASKS = [TaskPlan("a", "public.a", "a"), TaskPlan("b", "public.b", "b")]
TYPES = ("src_to_trgt", "logic", "action")
# durations on and around bucket bounds, in seconds
DURATIONS = (0, 0.5, 1, 1.001, 5, 14.999, 15, 59, 600, 3600.5, 21600, 21601, 90000)


def assert_same(found: RunMetrics, expected: RunMetrics) -> None:
    for name in ("started", "finished", "tables_finished", "rows", "bytes"):
        assert getattr(found, name) == getattr(expected, name), name
    for name in ("run_seconds", "table_seconds"):
        mine, theirs = getattr(found, name), getattr(expected, name)
        assert mine.keys() == theirs.keys(), name
        for river_type, histogram in mine.items():
            assert histogram.buckets == theirs[river_type].buckets, (name, river_type)
            assert histogram.count == theirs[river_type].count, (name, river_type)
            assert math.isclose(histogram.total, theirs[river_type].total, abs_tol=1e-3)
    assert (found.pending, found.running) == (expected.pending, expected.running)
    assert found.oldest_pending_seconds == expected.oldest_pending_seconds
    assert found.cdc_lag == expected.cdc_lag


def check(sessions: sessionmaker[Session], *, fold: bool = True) -> RunMetrics:
    """collect (after a fold, or reading unfolded deltas too) equals the full scan."""
    with sessions() as session:
        expected = run_metrics.scan(session, NOW)
        if not fold:  # read totals plus pending deltas without moving them
            pending = session.scalar(select(func.count()).select_from(RunMetricDelta))
            original = run_metrics.fold
            run_metrics.fold = lambda s: None  # type: ignore[assignment]
            try:
                found = run_metrics.collect(session, NOW)
            finally:
                run_metrics.fold = original
            assert session.scalar(select(func.count()).select_from(RunMetricDelta)) == pending
        else:
            found = run_metrics.collect(session, NOW)
            assert session.scalar(select(func.count()).select_from(RunMetricDelta)) == 0
    assert_same(found, expected)
    return found


def _group(rng: random.Random, env: BootstrapResult, status: str) -> RunGroup:
    start = NOW - timedelta(days=rng.randrange(30), seconds=rng.randrange(86400))
    duration = rng.choice(DURATIONS)
    final = status not in ("pending", "running")
    return RunGroup(
        account_id=env.account_id,
        environment_id=env.environment_id,
        river_id=rng.choice(["a" * 24, "b" * 24, "c" * 24]),
        river_type=rng.choice(TYPES),
        trigger="api",
        status=status,
        start_time=start,
        end_time=start + timedelta(seconds=duration) if final or rng.random() < 0.1 else None,
        total_rows=rng.randrange(1000),
        total_size=rng.randrange(100_000),
    )


def _run(rng: random.Random, group: RunGroup) -> Run:
    status = rng.choice(RUN_STATUSES)
    ended = status not in ("pending", "running") and rng.random() < 0.9
    return Run(
        run_group_id=group.id,
        account_id=group.account_id,
        environment_id=group.environment_id,
        river_id=group.river_id,
        trigger="api",
        status=status,
        start_time=group.start_time,
        end_time=group.start_time + timedelta(seconds=rng.choice(DURATIONS)) if ended else None,
        units=Decimal(1),
        total_rows=rng.randrange(100),
        details={"cdc_lag_seconds": 2.5} if rng.random() < 0.1 else {},
    )


def test_tables_indexes_and_triggers_exist_at_head(engine: Engine) -> None:
    found = inspect(engine)
    assert {"run_metric_totals", "run_metric_deltas"} <= set(found.get_table_names())
    assert {"status", "start_time"} == {
        c
        for i in found.get_indexes("run_groups")
        if i["name"] == "ix_run_groups_status_start"
        for c in i["column_names"]
    }
    assert ["end_time"] in [
        i["column_names"] for i in found.get_indexes("runs") if i["name"] == "ix_runs_cdc_lag"
    ]
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            expected = {
                "run_groups_metrics_insert",
                "run_groups_metrics_update",
                "run_groups_metrics_delete",
                "runs_metrics_insert",
                "runs_metrics_delete",
                "runs_metrics_update",
            }
        else:
            query = "SELECT tgname FROM pg_trigger"
            expected = {
                "run_groups_metrics_insert",
                "run_groups_metrics_update",
                "run_groups_metrics_delete",
                "runs_metrics_insert_delete",
                "runs_metrics_update",
            }
        assert expected <= set(connection.scalars(text(query)))


def test_run_lifecycle_keeps_the_totals(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    river = RiverRef(bootstrap.account_id, bootstrap.environment_id, "a" * 24, "src_to_trgt")
    with sessions() as session:
        group = run_service.trigger_river(session, river, trigger="api", tasks=TASKS, now=NOW)
        skipped = run_service.trigger_river(session, river, trigger="api", tasks=TASKS, now=NOW)
        assert skipped.status == "skipped"
        first, _second = group.runs
        assert run_service.mark_running(session, first, now=NOW, worker="w")  # Core UPDATE
        found = check(sessions, fold=False)
        assert found.started == {"src_to_trgt": 1} and found.running == 1
        run_service.record_progress(session, first.id, rows=5, size=50, now=NOW)
        run_service.finish_run(
            session, first, status="succeeded", now=NOW + timedelta(seconds=7), units=Decimal(1)
        )
        check(sessions)
        run_service.request_cancel(session, river_id=river.river_id, now=NOW, run_group_id=group.id)
        found = check(sessions)
        assert found.tables_finished[("src_to_trgt", "canceled")] == 1
        # the canceled table took 0 s (<= 1), the succeeded one 7 s (<= 15)
        assert found.table_seconds["src_to_trgt"].count == 2
        assert found.table_seconds["src_to_trgt"].buckets[:3] == [1, 1, 2]

        other = RiverRef(bootstrap.account_id, bootstrap.environment_id, "b" * 24, "logic")
        lost = run_service.trigger_river(session, other, trigger="api", tasks=TASKS, now=NOW)
        for run in lost.runs:
            run_service.mark_running(session, run, now=NOW, worker="w")
        reaped = run_service.fail_lost_runs(
            session, now=NOW + timedelta(hours=1), stale_after=timedelta(minutes=5)
        )
        assert len(reaped) == 2
        found = check(sessions)
        assert found.tables_finished[("logic", "failed")] == 2


def test_any_write_keeps_the_totals(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    rng = random.Random(23)
    with sessions() as session:
        groups = [_group(rng, bootstrap, rng.choice(GROUP_STATUSES)) for _ in range(40)]
        session.add_all(groups)
        session.flush()
        runs = [_run(rng, group) for group in groups for _ in range(rng.randrange(4))]
        session.add_all(runs)
        session.commit()
        check(sessions, fold=False)
        check(sessions)
        for step in range(150):
            if step % 3 == 0:
                group = rng.choice(groups)
                group.status = rng.choice(GROUP_STATUSES)
                group.end_time = group.start_time + timedelta(seconds=rng.choice(DURATIONS))
                group.total_rows = rng.randrange(1000)
            elif step % 3 == 1:
                run = rng.choice(runs)
                run.status = rng.choice(RUN_STATUSES)
                run.end_time = run.start_time + timedelta(seconds=rng.choice(DURATIONS))
            else:
                rng.choice(runs).heartbeat_at = NOW  # not counted
            if step % 11 == 0:
                session.commit()
                check(sessions, fold=step % 2 == 0)
        session.commit()
        check(sessions)
        # multi-row Core statements, and groups deleted with their runs by the DB's cascade
        session.execute(update(Run).where(Run.total_rows < 50).values(status="succeeded"))
        session.execute(update(RunGroup).where(RunGroup.total_rows < 300).values(status="failed"))
        gone = [g.id for g in groups[:10]]
        session.execute(delete(RunGroup).where(RunGroup.id.in_(gone)))
        session.commit()
        session.expire_all()
        check(sessions, fold=False)
        check(sessions)
        session.execute(delete(Run).where(Run.status == "succeeded"))
        session.execute(delete(RunGroup))
        session.commit()
        empty = check(sessions)
        assert (empty.started, empty.run_seconds, empty.tables_finished) == ({}, {}, {})


def test_a_scrape_costs_the_same_statements_whatever_the_run_count(
    engine: Engine, sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    rng = random.Random(5)

    def add(count: int) -> None:
        with sessions() as session:
            groups = [_group(rng, bootstrap, "succeeded") for _ in range(count)]
            session.add_all(groups)
            session.flush()
            session.add_all([_run(rng, g) for g in groups])
            session.commit()

    def statements_of_a_scrape() -> int:
        with statements_sent(engine) as seen, sessions() as session:
            run_metrics.collect(session, NOW)
        return len(seen)

    add(10)
    statements_of_a_scrape()  # folds the first deltas
    add(10)
    small = statements_of_a_scrape()
    add(400)
    large = statements_of_a_scrape()
    assert small == large <= 8
    with sessions() as session:
        totals = session.scalar(select(func.count()).select_from(RunMetricTotal))
        assert totals is not None and totals <= 2 * len(TYPES) * len(GROUP_STATUSES) * 14


def test_scrapes_folding_while_runs_are_written_lose_and_double_nothing(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    """Writers append deltas while two scrapers fold them; the totals end equal to the runs."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(15):
                with sessions() as session:
                    group = _group(rng, bootstrap, "running")
                    session.add(group)
                    session.flush()
                    session.add_all([_run(rng, group) for _ in range(2)])
                    session.commit()
                    group.status = rng.choice(["succeeded", "failed"])
                    group.end_time = group.start_time + timedelta(seconds=rng.choice(DURATIONS))
                    session.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    def scrape() -> None:
        try:
            while not stop.is_set():
                with sessions() as session:
                    run_metrics.collect(session, NOW)
        except BaseException as exc:
            errors.append(exc)

    writers = [threading.Thread(target=write, args=(seed,)) for seed in range(3)]
    scrapers = [threading.Thread(target=scrape) for _ in range(2)]
    for thread in writers + scrapers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in scrapers:
        thread.join()
    assert errors == []
    found = check(sessions)
    assert sum(found.finished.values()) == 45
