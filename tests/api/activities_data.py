"""Run histories for Activities tests: built in memory, written as rows, computed by hand.

The ``expected_*`` functions are the straightforward in-memory model the API is compared
with: plain loops over every run, no SQL, so a disagreement points at the queries.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete
from sqlalchemy.orm import Session

from headwater.schemas.runs import exact_epoch_ms
from headwater.store.models import River, RiverGroup, Run, RunGroup
from headwater.store.models.runs import RUN_STATUSES

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def oid() -> str:
    return secrets.token_hex(12)


def rid() -> str:
    return secrets.token_hex(16)


@dataclass
class RiverRow:
    id: str
    name: str
    river_type: str = "src_to_trgt"
    group_id: str | None = None
    scheduled: bool = False
    environment_id: str | None = None  # None: the history's environment


@dataclass
class RunRow:
    id: str
    status: str
    units: Decimal = Decimal(0)
    total_rows: int = 0
    total_size: int = 0
    duration_ms: int | None = None  # None: not ended
    target_name: str | None = None
    sub_river_id: str | None = None
    source_name: str | None = None
    error_description: str | None = None
    # filled from the group by History.add_group
    run_group_id: str = ""
    river_id: str = ""
    start_time: datetime = T0
    trigger: str = "api"

    @property
    def end_time(self) -> datetime | None:
        if self.duration_ms is None:
            return None
        return self.start_time + timedelta(milliseconds=self.duration_ms)


@dataclass
class GroupRow:
    id: str
    river_id: str
    status: str
    start_time: datetime
    trigger: str = "api"
    runs: list[RunRow] = field(default_factory=list)
    end_time: datetime | None = None


@dataclass
class History:
    account_id: str
    environment_id: str
    rivers: list[RiverRow] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)

    def add_group(self, group: GroupRow) -> GroupRow:
        for run in group.runs:
            run.run_group_id = group.id
            run.river_id = group.river_id
            run.start_time = group.start_time
            run.trigger = group.trigger
        ends = [r.end_time for r in group.runs if r.end_time is not None]
        if group.end_time is None and ends and len(ends) == len(group.runs):
            group.end_time = max(ends)
        self.groups.append(group)
        return group

    @property
    def runs(self) -> list[RunRow]:
        return [run for group in self.groups for run in group.runs]

    def river(self, river_id: str) -> RiverRow | None:
        return next((r for r in self.rivers if r.id == river_id), None)


def clear(session: Session) -> None:
    """Remove every run, run group, river and river group (between Hypothesis examples)."""
    for model in (Run, RunGroup, River, RiverGroup):
        session.execute(delete(model))
    session.commit()


def write(session: Session, history: History) -> None:
    """Insert the history as rows, the way the run service would have left them."""
    group_ids = {r.group_id for r in history.rivers if r.group_id}
    for group_id in sorted(group_ids):
        session.add(
            RiverGroup(
                id=group_id,
                account_id=history.account_id,
                environment_id=history.environment_id,
                name=f"group {group_id[:6]}",
            )
        )
    session.flush()
    for river in history.rivers:
        session.add(
            River(
                id=river.id,
                account_id=history.account_id,
                environment_id=river.environment_id or history.environment_id,
                name=river.name,
                river_type=river.river_type,
                group_id=river.group_id,
                cron_expression="0 * * * *" if river.scheduled else None,
                schedule_enabled=river.scheduled,
            )
        )
    session.flush()
    for group in history.groups:
        river = history.river(group.river_id)
        environment_id = (river.environment_id if river else None) or history.environment_id
        session.add(
            RunGroup(
                id=group.id,
                account_id=history.account_id,
                environment_id=environment_id,
                river_id=group.river_id,
                river_type=river.river_type if river else "src_to_trgt",
                trigger=group.trigger,
                status=group.status,
                start_time=group.start_time,
                end_time=group.end_time,
                units=sum((r.units for r in group.runs), Decimal(0)),
                total_rows=sum(r.total_rows for r in group.runs),
                total_size=sum(r.total_size for r in group.runs),
            )
        )
        session.flush()
        for run in group.runs:
            session.add(
                Run(
                    id=run.id,
                    run_group_id=group.id,
                    account_id=history.account_id,
                    environment_id=environment_id,
                    river_id=group.river_id,
                    sub_river_id=run.sub_river_id,
                    source_name=run.source_name,
                    target_name=run.target_name,
                    trigger=run.trigger,
                    status=run.status,
                    error_description=run.error_description,
                    start_time=run.start_time,
                    end_time=run.end_time,
                    units=run.units,
                    total_rows=run.total_rows,
                    total_size=run.total_size,
                )
            )
    session.commit()


# --- the in-memory model ------------------------------------------------------------------


def in_window(moment: datetime, start: datetime, end: datetime) -> bool:
    return start <= moment < end


def units_json(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.000001")))


def expected_statistics(runs: list[RunRow]) -> dict[str, object]:
    counts: dict[str, object] = dict.fromkeys(RUN_STATUSES, 0)
    for run in runs:
        counts[run.status] = int(str(counts[run.status])) + 1
    total = units_json(sum((r.units for r in runs), Decimal(0)))
    return {**counts, "total_units": total, "total_rpu": total}


def max_duration(runs: list[RunRow]) -> int:
    return max((r.duration_ms for r in runs if r.duration_ms is not None), default=0)


def ms(moment: datetime) -> int:
    return exact_epoch_ms(moment)
