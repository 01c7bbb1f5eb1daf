"""Answers of a logic run's step list and of a run's final variables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class LogicStepOut(BaseModel):
    """One execution of one step; a step inside a loop appears once per iteration."""

    step_run_id: str
    sequence: int = Field(description="Start order within the run.")
    path: str = Field(description="Position in the tree: '2' is the third step, '2.0' its first.")
    parent_step_run_id: str | None
    name: str
    type: str = Field(
        description="sql | river | action | dbt | python | run_once | loop | condition"
    )
    status: str = Field(description="running | succeeded | failed | skipped | canceled")
    iteration_index: int | None
    iteration_value: Any = Field(default=None, description="The loop value of this iteration.")
    sub_run_id: str | None = Field(description="The run recorded for a river or action step.")
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None
    rows: int
    output: dict[str, Any] = Field(
        description="What the step produced: rows, variable set, HTTP status, matched, dbt "
        "results, a Python function's return value, ..."
    )
    error: str | None


class LogicStepList(BaseModel):
    run_id: str
    river_id: str
    items: list[LogicStepOut]


class RunVariablesOut(BaseModel):
    """The variables a run ended with (or has now, while it runs); private values masked."""

    run_id: str
    river_id: str
    variables: dict[str, Any]
    private: list[str] = Field(description="Names whose values are masked.")
    updated_at: datetime | None
