"""Reading what a logic run did: its step records and the variables a run ended with."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.store.models.logic import LogicStepRun, RunVariables


def step_runs(session: Session, run_id: str) -> list[LogicStepRun]:
    """Every step execution of the run, in start order."""
    return list(
        session.scalars(
            select(LogicStepRun)
            .where(LogicStepRun.run_id == run_id)
            .order_by(LogicStepRun.sequence, LogicStepRun.id)
        )
    )


def run_variables(session: Session, run_id: str) -> RunVariables | None:
    return session.get(RunVariables, run_id)
