"""The account, its plan and plan history."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Plan = Literal["starter", "pro", "enterprise"]


class PlanUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: Plan


class PlanChangeOut(BaseModel):
    from_plan: str | None
    to_plan: str
    changed_by: str | None
    changed_at: datetime


class PendingDowngrade(BaseModel):
    """A move to `starter` whose notice period is running: tokens stop working at the end."""

    tokens_expire_at: datetime
    tokens_affected: int


class AccountOut(BaseModel):
    id: str
    name: str
    plan: str
    plan_changed_at: datetime | None
    created_at: datetime
    plan_history: list[PlanChangeOut]
    pending_downgrade: PendingDowngrade | None = Field(
        description="Set while a move to the starter plan's notice period runs."
    )
