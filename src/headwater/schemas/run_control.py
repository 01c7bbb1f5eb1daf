"""Request and response bodies for triggering, cancelling and polling runs (v1 and legacy)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

LEGACY_STATUS = {"pending": "W", "running": "R", "succeeded": "D"}


def legacy_status(status: str) -> str:
    """W waiting, R running, D done, E error (every other final status, incl. canceled)."""
    return LEGACY_STATUS.get(status, "E")


class RunRequest(BaseModel):
    """Optional body of ``POST .../run``: run parameters override river variables once."""

    model_config = ConfigDict(extra="forbid")

    variables: dict[str, Any] = Field(
        default_factory=dict, description="Variables for this run only (run parameters)."
    )


class TriggeredRun(BaseModel):
    run_id: str
    status: str
    message: str | None
    sub_river_id: str | None


class RunTriggered(BaseModel):
    """The 202 answer of ``POST E/rivers/{id}/run``."""

    river_cross_id: str
    run_group_id: str
    status: str
    runs: list[TriggeredRun]


RUN_ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": "^[0-9a-f]{32}$"}


def _only(field: str, other: str) -> dict[str, Any]:
    return {"required": [field], "properties": {field: RUN_ID_SCHEMA, other: {"type": "null"}}}


class CancelRequest(BaseModel):
    """Exactly one of ``run_id`` and ``run_group_id`` (``services.runs.request_cancel``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [_only("run_id", "run_group_id"), _only("run_group_id", "run_id")]
        },
    )

    run_id: str | None = None
    run_group_id: str | None = None


class CancelAnswer(BaseModel):
    run_group_id: str
    status: str
    cancel_requested: bool


class LegacyTaskStatus(BaseModel):
    task_id: str
    target_name: str | None
    status: str
    river_run_status: str
    error_description: str | None


class LegacyRun(BaseModel):
    """The legacy ``/api/run`` and ``/api/check_run`` shape (``run_id`` is the group id)."""

    run_id: str
    river_id: str
    account: str
    river_run_status: str
    river_run_message: str
    run_insert_date: datetime
    run_update_date: datetime
    run_end_date: datetime | None
    tasks_status: list[LegacyTaskStatus]
