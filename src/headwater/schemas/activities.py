"""Activities API shapes, and the input vocabularies it accepts (statuses, river types, sorts).

Clients of the hosted service spell the same status several ways (``succeed``, ``succeeded``,
``partially succeed``, ``cancelled``, legacy letters); every spelling is accepted on input and
answers always use the long v1 words, so scripts can compare strings safely.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from headwater.schemas.runs import Units
from headwater.vocabulary import GROUP_STATUSES, RUN_STATUSES

SortKey = Literal["units", "last_run", "max_duration"]

_STATUS_SPELLINGS: dict[str, str] = {
    "pending": "pending",
    "waiting": "pending",
    "queued": "pending",
    "w": "pending",
    "running": "running",
    "r": "running",
    "succeeded": "succeeded",
    "succeed": "succeeded",
    "success": "succeeded",
    "successful": "succeeded",
    "d": "succeeded",
    "done": "succeeded",
    "failed": "failed",
    "fail": "failed",
    "failure": "failed",
    "error": "failed",
    "e": "failed",
    "canceled": "canceled",
    "cancelled": "canceled",
    "cancel": "canceled",
    "skipped": "skipped",
    "skip": "skipped",
    "partially succeeded": "partially succeeded",
    "partially succeed": "partially succeeded",
    "partial": "partially succeeded",
}
_RIVER_TYPES = {
    "src_to_trgt": "src_to_trgt",
    "source_to_target": "src_to_trgt",
    "logic": "logic",
    "actions": "actions",
    "action": "actions",
}
_SORT_KEYS: dict[str, SortKey] = {
    "rpus(units)": "units",
    "rpus": "units",
    "rpu": "units",
    "units": "units",
    "last_run": "last_run",
    "lastrun": "last_run",
    "max_duration": "max_duration",
    "maxduration": "max_duration",
}

#: The spellings above as ``/openapi.json`` enums (matching is also case-insensitive).
RUN_STATUS_WORDS = sorted(k for k, v in _STATUS_SPELLINGS.items() if v in RUN_STATUSES)
GROUP_STATUS_WORDS = sorted(k for k, v in _STATUS_SPELLINGS.items() if v in GROUP_STATUSES)
RIVER_TYPE_WORDS = sorted(_RIVER_TYPES)
SORT_BY_WORDS = ["RPUs(Units)", *sorted(k for k in _SORT_KEYS if k != "rpus(units)")]


def _words(value: str) -> str:
    return re.sub(r"[\s_\-]+", " ", value.strip().lower())


def normalize_status(value: str, *, groups: bool) -> str:
    """The v1 word for any accepted spelling; ``groups`` also allows ``partially succeeded``."""
    status = _STATUS_SPELLINGS.get(_words(value))
    allowed = GROUP_STATUSES if groups else RUN_STATUSES
    if status is None or status not in allowed:
        raise ValueError(f"unknown status {value!r}; expected one of: {', '.join(allowed)}")
    return status


def normalize_river_type(value: str) -> str:
    river_type = _RIVER_TYPES.get(_words(value).replace(" ", "_"))
    if river_type is None:
        raise ValueError(f"unknown river_type {value!r}; expected src_to_trgt, logic or actions")
    return river_type


def normalize_sort_by(value: str) -> SortKey:
    key = _SORT_KEYS.get(re.sub(r"\s+", "", value.strip().lower()))
    if key is None:
        raise ValueError(
            f"unknown sort_by {value!r}; expected RPUs(Units), last_run or max_duration"
        )
    return key


class Statistics(BaseModel):
    """Counts of runs (not run groups) per status in the window, and the units they used."""

    running: int = 0
    pending: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    skipped: int = 0
    total_units: Units
    total_rpu: Units = Field(description="Equal to total_units (the hosted API's name for it).")


class LastRun(BaseModel):
    """One of a river's latest run groups in the window (``return_last_runs=true``)."""

    run_group_id: str
    status: str
    units: Units
    run_date: int = Field(description="Trigger time of the run group, epoch milliseconds.")
    max_run_duration_milliseconds: int


class ActivityRow(BaseModel):
    """One river's runs in the window, rolled up."""

    river_id: str
    river_name: str | None
    river_type: str | None
    group_id: str | None
    is_scheduled: bool
    succeeded: int
    failed: int
    running: int
    pending: int
    canceled: int
    skipped: int
    units: Units
    total_rows: int
    total_size: int
    last_run: int = Field(description="Latest trigger time in the window, epoch milliseconds.")
    max_duration_in_milliseconds: int
    last_runs: list[LastRun] | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Only with return_last_runs=true: the latest run groups, newest first.",
    )


class RunGroupOut(BaseModel):
    """One trigger of a river; units and durations are the sums and maxima of its runs."""

    run_group_id: str
    status: str
    units: Units
    max_duration_in_milliseconds: int
    run_date_epoch_milliseconds: int
    run_date_utc: datetime
    run_end_date_utc: datetime | None
    trigger: str


class RunGroupDetail(RunGroupOut):
    """A run group with how many of its runs are in each status."""

    river_id: str
    total_runs: int
    running: int
    pending: int
    succeeded: int
    failed: int
    canceled: int
    skipped: int
    total_rows: int
    total_size: int


class TargetOut(BaseModel):
    target_name: str
    status: str = Field(description="Status of the latest run that loaded this target.")
    units: Units
    last_run: int = Field(description="Latest trigger time, epoch milliseconds.")
    total_rows: int


class TargetList(BaseModel):
    items: list[TargetOut]


class SubRiverOut(BaseModel):
    sub_river_id: str
    sub_river_name: str | None
    status: str = Field(description="Status of the latest run of this sub river.")
    units: Units
    last_run: int = Field(description="Latest trigger time, epoch milliseconds.")


class SubRiverList(BaseModel):
    items: list[SubRiverOut]
