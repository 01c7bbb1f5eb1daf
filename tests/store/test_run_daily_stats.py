"""run_daily_stats (migration 0013) always equals a GROUP BY over the runs, on both backends.

The summary is kept by triggers on ``runs``, so every way runs are written is exercised here:
the run lifecycle services (trigger, skip, the Core UPDATE of ``mark_running``, finish, cancel,
reaping), ORM edits of any counted column, multi-row UPDATEs and DELETEs, and moving a run
across a UTC midnight.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, delete, inspect, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from headwater.services import runs as run_service
from headwater.services.bootstrap import BootstrapResult
from headwater.services.runs import RiverRef, TaskPlan
from headwater.store.models.runs import RUN_STATUSES, Run, RunGroup

T0 = datetime(2026, 3, 1, 23, 58, tzinfo=UTC)  # two minutes before a UTC midnight
TASKS = [TaskPlan("a", "public.a", "a"), TaskPlan("b", "public.b", "b")]
COLUMNS = (
    "environment_id, day, river_id, status, run_count, units_micro, total_rows, total_size,"
    " max_duration_ms, last_start_time"
)


def _recomputed(session: Session) -> list[Any]:
    day = (
        "substr(start_time, 1, 10)"
        if session.get_bind().dialect.name == "sqlite"
        else "CAST(start_time AT TIME ZONE 'UTC' AS DATE)"
    )
    micro = "INTEGER" if session.get_bind().dialect.name == "sqlite" else "BIGINT"
    return list(
        session.execute(
            text(
                f"SELECT environment_id, {day}, river_id, status, COUNT(*),"
                f" SUM(CAST(ROUND(units * 1000000) AS {micro})), SUM(total_rows),"
                " SUM(total_size), MAX(duration_ms), MAX(start_time) FROM runs"
                f" GROUP BY environment_id, {day}, river_id, status ORDER BY 1, 2, 3, 4"
            )
        ).all()
    )


def _summary(session: Session) -> list[Any]:
    return list(
        session.execute(text(f"SELECT {COLUMNS} FROM run_daily_stats ORDER BY 1, 2, 3, 4")).all()
    )


def assert_in_step(sessions: sessionmaker[Session]) -> list[Any]:
    with sessions() as session:
        summary = _summary(session)
        assert summary == _recomputed(session)
        assert all(row.run_count > 0 for row in summary)
        return summary


def test_triggers_exist_at_head(engine: Engine) -> None:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            names = set(
                connection.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            )
            expected = {f"runs_daily_stats_{op}" for op in ("insert", "update", "delete")}
        else:
            names = set(connection.scalars(text("SELECT tgname FROM pg_trigger")))
            expected = {"runs_daily_stats_insert_delete", "runs_daily_stats_update"}
    assert expected <= names
    assert "run_daily_stats" in inspect(engine).get_table_names()


def test_run_lifecycle_keeps_the_summary(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    river = RiverRef(bootstrap.account_id, bootstrap.environment_id, "a" * 24, "src_to_trgt")
    with sessions() as session:
        group = run_service.trigger_river(session, river, trigger="api", tasks=TASKS, now=T0)
        skipped = run_service.trigger_river(session, river, trigger="api", tasks=TASKS, now=T0)
        assert skipped.status == "skipped"
        first, _second = group.runs
        assert run_service.mark_running(session, first, now=T0, worker="w")  # Core UPDATE
        summary = assert_in_step(sessions)
        assert {(row.status, row.run_count) for row in summary} == {
            ("pending", 1),
            ("running", 1),
            ("skipped", 2),
        }
        run_service.record_progress(session, first.id, rows=5, size=50, now=T0)
        assert_in_step(sessions)
        run_service.finish_run(
            session, first, status="succeeded", now=T0 + timedelta(minutes=1), units=Decimal("1.5")
        )
        run_service.request_cancel(session, river_id=river.river_id, now=T0, run_group_id=group.id)
        summary = assert_in_step(sessions)
        assert {row.status for row in summary} == {"succeeded", "canceled", "skipped"}

        other = RiverRef(bootstrap.account_id, bootstrap.environment_id, "b" * 24, "logic")
        lost = run_service.trigger_river(session, other, trigger="api", tasks=TASKS, now=T0)
        for run in lost.runs:
            run_service.mark_running(session, run, now=T0, worker="w")
        reaped = run_service.fail_lost_runs(
            session, now=T0 + timedelta(hours=1), stale_after=timedelta(minutes=5)
        )
        assert len(reaped) == 2
        summary = assert_in_step(sessions)
        assert [row.max_duration_ms for row in summary if row.river_id == "b" * 24] == [3_600_000]


def test_any_write_to_runs_keeps_the_summary(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> None:
    rng = random.Random(13)
    env = bootstrap.environment_id
    with sessions() as session:
        group = RunGroup(
            account_id=bootstrap.account_id,
            environment_id=env,
            river_id="a" * 24,
            river_type="src_to_trgt",
            trigger="api",
            start_time=T0,
        )
        session.add(group)
        session.flush()
        runs = []
        for _ in range(60):
            start = T0 + timedelta(
                minutes=rng.randrange(-3000, 3000), microseconds=rng.randrange(9)
            )
            ended = rng.random() < 0.6
            run = Run(
                run_group_id=group.id,
                account_id=bootstrap.account_id,
                environment_id=env,
                river_id=rng.choice(["a" * 24, "b" * 24]),
                trigger="api",
                status=rng.choice(RUN_STATUSES),
                start_time=start,
                end_time=start + timedelta(seconds=rng.randrange(900)) if ended else None,
                units=Decimal(rng.randrange(3_000_000)) / 1_000_000,
                total_rows=rng.randrange(100),
                total_size=rng.randrange(10_000),
            )
            session.add(run)
            runs.append(run)
        session.commit()
        assert_in_step(sessions)
        for step in range(120):
            run = rng.choice(runs[10:])
            change = step % 5
            if change == 0:
                run.status = rng.choice(RUN_STATUSES)
                run.end_time = run.start_time + timedelta(seconds=rng.randrange(1, 2000))
            elif change == 1:
                run.units = Decimal(rng.randrange(3_000_000)) / 1_000_000
                run.total_rows = rng.randrange(100)
            elif change == 2:  # across midnight, to another river
                run.start_time = run.start_time + timedelta(minutes=rng.randrange(-5, 5))
                run.river_id = rng.choice(["a" * 24, "b" * 24])
            elif change == 3:
                session.execute(update(Run).where(Run.id == run.id).values(status="failed"))
                session.expire(run)
            else:
                run.heartbeat_at = T0  # not counted: no change to the summary
            if step % 9 == 0:
                session.commit()
        session.commit()
        assert_in_step(sessions)
        for run in runs[:10]:
            session.delete(run)
        session.commit()
        assert_in_step(sessions)
        # multi-row statements (on PostgreSQL their row triggers run after every row changed)
        session.execute(update(Run).where(Run.total_rows < 50).values(status="succeeded"))
        session.execute(
            update(Run).where(Run.total_rows > 70).values(total_rows=Run.total_rows + 1)
        )
        session.execute(delete(Run).where(Run.river_id == "b" * 24))
        session.commit()
        assert assert_in_step(sessions)
        session.execute(delete(Run))
        session.commit()
        assert assert_in_step(sessions) == []
        assert session.scalar(select(Run.id)) is None
