"""Three real ``headwater scheduler`` processes on one metadata database: each due time fires
exactly once, and when the leader is SIGKILLed another scheduler takes over within 30 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import ensure_default_account
from headwater.store import migrate
from headwater.store.base import utcnow
from headwater.store.engine import make_engine, make_session_factory
from headwater.store.models.leases import Lease
from headwater.store.models.rivers import River
from headwater.store.models.runs import RunGroup, ScheduleState
from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database
from tests.live import Cluster, Proc, libpq

pytestmark = pytest.mark.slow

RIVERS = 12
SPACING = 0.5  # seconds between due times: they span the leader's death
CRON = "0 0 1 1 *"  # next fire after the planted one is next New Year: never in the test
TAKEOVER_LIMIT = 30.0


def _plant_rivers(sessions: sessionmaker[Session], first_due_in: float) -> dict[str, float]:
    """Rivers whose stored next fire times are staggered from ``first_due_in`` seconds on."""
    with sessions() as session:
        boot = ensure_default_account(session, admin_email="ops@example.com", admin_password="x")
    due: dict[str, float] = {}
    start = utcnow()
    with sessions() as session:
        for i in range(RIVERS):
            river = River(
                account_id=boot.account_id,
                environment_id=boot.environment_id,
                name=f"cluster {i}",
                river_type="logic",
                status="active",
                definition={"name": f"cluster {i}", "type": "logic"},
                cron_expression=CRON,
                schedule_enabled=True,
            )
            session.add(river)
            session.flush()
            offset = first_due_in + i * SPACING
            session.add(
                ScheduleState(
                    river_id=river.id,
                    cron_expression=CRON,
                    next_fire_at=start + timedelta(seconds=offset),
                )
            )
            due[river.id] = offset
        session.commit()
    return due


def _leader(sessions: sessionmaker[Session], procs: list[Proc], limit: float = 90) -> Proc:
    deadline = time.monotonic() + limit
    by_pid = {proc.process.pid: proc for proc in procs}
    while time.monotonic() < deadline:
        with sessions() as session:
            lease = session.get(Lease, "scheduler")
            if lease is not None and lease.expires_at > utcnow():
                pid = int(lease.holder.split(":")[1])
                if pid in by_pid:
                    return by_pid[pid]
        time.sleep(0.1)
    raise AssertionError("no scheduler took the lease")


@pytest.fixture
def metadata_url() -> Iterator[str]:
    """PostgreSQL, the cluster's metadata database (``test_lease.py`` covers SQLite too)."""
    require_service("postgres")
    url = create_pg_database("hw_sched")
    yield url
    drop_pg_database(url)


def test_killed_leader_is_replaced_and_every_due_time_fires_once(
    tmp_path: Path, metadata_url: str
) -> None:
    engine = make_engine(metadata_url)
    migrate.upgrade(engine)  # before the schedulers start, so they do not race to migrate
    sessions = make_session_factory(engine)
    cluster = Cluster(
        tmp_path,
        {
            "HEADWATER_DATA_DIR": str(tmp_path / "data"),
            "HEADWATER_DATABASE_URL": libpq(metadata_url),
            "HEADWATER_SECRET_KEY": "scheduler-failover-test-key",
            "HEADWATER_SCHEDULER_TICK_SECONDS": "0.3",
            "HEADWATER_SCHEDULER_LEASE_SECONDS": "3",
        },
    )
    try:
        procs = [cluster.start(f"scheduler-{i}", "scheduler") for i in range(3)]
        try:
            leader = _leader(sessions, procs)  # 90 s: three interpreters start on 2 cores
        except AssertionError:
            raise AssertionError(cluster.logs()) from None
        due = _plant_rivers(sessions, first_due_in=1.0)
        time.sleep(1.0 + 3 * SPACING)  # the leader fires the first few
        leader.kill()
        killed_at = utcnow()
        survivors = [p for p in procs if p is not leader]

        deadline = time.monotonic() + TAKEOVER_LIMIT + RIVERS * SPACING
        while time.monotonic() < deadline:
            with sessions() as session:
                fired = session.scalar(
                    select(func.count()).where(ScheduleState.last_fired_at.is_not(None))
                )
            if fired == RIVERS:
                break
            time.sleep(0.2)
        with sessions() as session:
            states = {s.river_id: s for s in session.scalars(select(ScheduleState))}
            groups = dict(
                session.execute(
                    select(RunGroup.river_id, func.count())
                    .where(RunGroup.trigger == "scheduler")
                    .group_by(RunGroup.river_id)
                ).all()
            )
            lease = session.get_one(Lease, "scheduler")
        logs = (
            cluster.logs()
            + repr(
                [(s.river_id, s.next_fire_at, s.last_fired_at, s.error) for s in states.values()]
            )
            + f" killed at {killed_at}"
        )
        assert groups == dict.fromkeys(due, 1), logs  # every due time fired, none twice
        before = [s for s in states.values() if s.last_fired_at < killed_at]  # type: ignore[operator]
        after = sorted(s.last_fired_at for s in states.values() if s.last_fired_at >= killed_at)  # type: ignore[operator,type-var]
        assert before and after, logs  # the leader fired some, its successor the rest
        assert (after[0] - killed_at).total_seconds() < TAKEOVER_LIMIT
        assert int(lease.holder.split(":")[1]) in {p.process.pid for p in survivors}
        for proc in survivors:
            assert proc.process.poll() is None, proc.log()
    finally:
        cluster.stop_all()
        engine.dispose()
