"""The records of a run split into parts: every change of a part is a conditional UPDATE.

Why conditional: a part's task may be delivered twice (broker redelivery after a lost worker),
the coordinator takes over parts whose worker died, and a worker thought dead may still
finish. Each write names the attempt it belongs to (``worker`` and ``attempts``), so only the
current attempt's owner can commit a part, and a part is claimed by one worker at a time.
"""

from __future__ import annotations

import functools
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, select, update
from sqlalchemy.orm import Session

from headwater.services.rivers import get_river_in_environment
from headwater.services.runs import get_run
from headwater.store.models.rivers import River
from headwater.store.models.run_parts import RunPart
from headwater.store.models.runs import FINAL_STATUSES, Run


def create_parts(session: Session, run_id: str, bounds: list[dict[str, Any]]) -> None:
    """The run's parts, pending (those of an earlier attempt of the run are replaced)."""
    session.execute(delete(RunPart).where(RunPart.run_id == run_id))
    for number, bound in enumerate(bounds, start=1):
        session.add(RunPart(run_id=run_id, part=number, bounds=bound, status="pending"))
    session.commit()


@functools.cache
def _river_run_query() -> Select[River, Run, RunPart]:
    """The river, the run and its parts (a row per part, one row without parts). Built once:
    a status poll is the API's most frequent request."""
    return (
        select(River, Run, RunPart)
        .outerjoin(Run, and_(Run.id == bindparam("run_id"), Run.river_id == River.id))
        .outerjoin(RunPart, RunPart.run_id == Run.id)
        .where(River.id == bindparam("river_id"))
        .order_by(RunPart.part)
    )


def river_run_with_parts(
    session: Session, environment_id: str, river_id: str, run_id: str
) -> tuple[Run, list[RunPart]]:
    """A run of a river of this environment and its parts, in one round trip instead of three
    (river, run, parts). The usual checks then decide (404 for the river first, then for the
    run): ``rows`` holds the river and the run, so they find them in the identity map without a
    query, and only a miss reads again.
    """
    rows = session.execute(_river_run_query(), {"river_id": river_id, "run_id": run_id}).all()
    get_river_in_environment(session, environment_id, river_id)
    run = get_run(session, run_id, river_id=river_id)
    return run, [part for _, _, part in rows if part is not None]


def list_parts(session: Session, run_id: str) -> list[RunPart]:
    return list(
        session.scalars(select(RunPart).where(RunPart.run_id == run_id).order_by(RunPart.part))
    )


def parts_of(session: Session, run_ids: list[str]) -> dict[str, list[RunPart]]:
    """The parts of several runs (a page of runs), in one query."""
    found: dict[str, list[RunPart]] = {}
    if not run_ids:
        return found
    query = select(RunPart).where(RunPart.run_id.in_(run_ids)).order_by(RunPart.part)
    for part in session.scalars(query):
        found.setdefault(part.run_id, []).append(part)
    return found


def worker_alive(worker: str | None) -> bool | None:
    """Whether a worker (``host:pid``) of this host still runs; ``None`` for another host."""
    if not worker or ":" not in worker:
        return None
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_lost(part: RunPart, now: datetime, lost_after: timedelta) -> bool:
    """A running part whose worker died: gone from this host, or silent for ``lost_after``."""
    if part.status != "running":
        return False
    alive = worker_alive(part.worker)
    if alive is not None:
        return not alive
    return part.heartbeat_at is None or part.heartbeat_at < now - lost_after


def claim(session: Session, part: RunPart, worker: str, now: datetime) -> int | None:
    """Take a pending or lost part for a new attempt; its attempt number, or ``None`` when
    another worker changed it first."""
    attempt = part.attempts + 1
    result = session.execute(
        update(RunPart)
        .where(
            RunPart.run_id == part.run_id,
            RunPart.part == part.part,
            RunPart.status == part.status,
            RunPart.attempts == part.attempts,
        )
        .values(
            status="running",
            worker=worker,
            attempts=attempt,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            error=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return attempt if result.rowcount == 1 else None  # type: ignore[attr-defined]


def _mine(run_id: str, part: int, worker: str, attempt: int) -> Any:
    return (
        RunPart.run_id == run_id,
        RunPart.part == part,
        RunPart.worker == worker,
        RunPart.attempts == attempt,
        RunPart.status == "running",
    )


def beat(
    session: Session, run_id: str, part: int, worker: str, attempt: int, now: datetime
) -> bool:
    """Renew the attempt's heartbeat; False when it is no longer this worker's to do."""
    result = session.execute(
        update(RunPart)
        .where(*_mine(run_id, part, worker, attempt))
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def finish(
    session: Session,
    run_id: str,
    part: int,
    worker: str,
    attempt: int,
    now: datetime,
    **values: Any,
) -> bool:
    """End the attempt (``status`` committed, pending for a retry, or failed); False when it
    was taken over or canceled meanwhile (the caller drops what it staged)."""
    result = session.execute(
        update(RunPart)
        .where(*_mine(run_id, part, worker, attempt))
        .values(finished_at=now, heartbeat_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def cancel_open(session: Session, run_id: str, now: datetime) -> None:
    """Stop the parts not yet committed or failed (their workers notice on the next beat)."""
    session.execute(
        update(RunPart)
        .where(RunPart.run_id == run_id, RunPart.status.in_(("pending", "running")))
        .values(status="canceled", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def fail_lost(session: Session, part: RunPart, now: datetime, message: str) -> None:
    session.execute(
        update(RunPart)
        .where(
            RunPart.run_id == part.run_id,
            RunPart.part == part.part,
            RunPart.status == "running",
            RunPart.attempts == part.attempts,
        )
        .values(status="failed", error=message, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def left_behind(session: Session, river_id: str, task_key: str) -> dict[str, list[str]]:
    """Committed part tables of ended runs of the same table that never published (their
    coordinator died): run id -> staging table names, for the next run to drop."""
    query = (
        select(RunPart.run_id, RunPart.staging)
        .join(Run, Run.id == RunPart.run_id)
        .where(
            Run.river_id == river_id,
            Run.task_key == task_key,
            Run.status.in_(FINAL_STATUSES),
            RunPart.staging.is_not(None),
        )
    )
    found: dict[str, list[str]] = {}
    for run_id, staging in session.execute(query):
        found.setdefault(run_id, []).append(str(staging))
    return found


def forget_staging(session: Session, run_id: str) -> None:
    """The parts' tables were published or dropped: nothing of theirs is left to clean."""
    session.execute(
        update(RunPart)
        .where(RunPart.run_id == run_id)
        .values(staging=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
