"""Audit trail entries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    id: str
    account_id: str
    environment_id: str | None
    occurred_at: datetime
    occurred_at_epoch_ms: int
    action: str
    actor_type: str
    actor_id: str | None
    actor_user_id: str | None
    entity_type: str
    entity_id: str | None
    result: str
    details: dict[str, Any]
