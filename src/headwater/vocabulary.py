"""The platform's fixed words: run statuses, triggers and webhook events.

Shared by the store (columns hold these values), the wire schemas (enums and filters) and the
services, so none of them has to import another for a tuple of strings.
"""

from __future__ import annotations

RUN_STATUSES = ("pending", "running", "succeeded", "failed", "canceled", "skipped")
GROUP_STATUSES = (*RUN_STATUSES, "partially succeeded")
FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "skipped", "partially succeeded"})
TRIGGERS = ("api", "scheduler", "console", "logic")

WEBHOOK_EVENTS = (
    "run_group.succeeded",
    "run_group.failed",
    "run_group.canceled",
    "run_group.finished",
    "cdc.slot_lag",
)
WEBHOOK_PING_EVENT = "ping"
DELIVERY_STATUSES = ("pending", "succeeded", "failed")
