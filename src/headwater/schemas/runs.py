"""The v1 Run shape, shared by the runs list (Activities) and the single-run endpoint.

One model for both, so a run looks the same wherever a client meets it. Times come twice, as
UTC ISO 8601 and as epoch milliseconds, because hosted-API clients read either; an unfinished
run reports ``end_date_in_milliseconds = 0`` (and ``end_date_utc = null``) as the hosted
service does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_UNITS_QUANTUM = Decimal("0.000001")


def exact_epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds, floored, without float rounding (the SQL side floors too)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MILLISECOND


def round_units(value: Decimal | int | float | None) -> Decimal:
    """Units to the 6 decimal places the metadata DB stores."""
    if value is None:
        return Decimal(0)
    return Decimal(str(value)).quantize(_UNITS_QUANTUM, rounding=ROUND_HALF_EVEN)


def _units_json(value: Decimal) -> float:
    return float(round_units(value))


Units = Annotated[Decimal, PlainSerializer(_units_json, return_type=float, when_used="json")]
"""A usage amount: exact in Python, a JSON number rounded to 6 places on the wire."""


class RunPartOut(BaseModel):
    """One range of a table whose run was split across Celery workers."""

    part: int
    lower: int | str | None = Field(description="Inclusive lower bound (None: unbounded).")
    upper: int | str | None = Field(description="Exclusive upper bound (None: unbounded).")
    column: str | None = Field(default=None, description="The key column, or ``ctid``.")
    status: str = Field(description="pending, running, committed, failed or canceled.")
    worker: str | None = Field(description="The worker (``host:pid``) of the last attempt.")
    rows: int
    attempts: int
    seconds: float | None = Field(description="Duration of the last attempt.")
    error: str | None


class RunOut(BaseModel):
    """One run: a target table (or sub river) of one run group."""

    run_id: str
    run_group_id: str
    river_id: str
    sub_river_id: str | None
    is_sub_river_run: bool
    source_name: str | None
    target_name: str | None
    status: str
    error_description: str | None
    units: Units
    total_rows: int
    total_size: int
    start_date_utc: datetime
    end_date_utc: datetime | None
    start_date_in_milliseconds: int
    end_date_in_milliseconds: int
    trigger: str
    cdc_lag_seconds: float | None = Field(
        default=None,
        description="Change capture: seconds from the source commit of the last applied "
        "change to its commit at the target (live while a continuous run runs).",
    )
    cdc_lag_bytes: int | None = Field(
        default=None, description="Change capture: bytes of source log not yet applied."
    )
    cdc_retained_bytes: int | None = Field(
        default=None,
        description="Change capture from PostgreSQL: WAL the river's slot makes the source "
        "keep (a run warns in its log past source.cdc.retained_warning_bytes).",
    )
    parts: list[RunPartOut] = Field(
        default_factory=list,
        description="The table's ranges when its run was split across Celery workers "
        "(settings.parallel_partitions with HEADWATER_EXECUTOR=celery); empty otherwise.",
    )
