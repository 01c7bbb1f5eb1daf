"""Every ORM model, imported here so Alembic and the app see one complete metadata."""

from headwater.store.models.accounts import Account, Environment, PlanChange, User
from headwater.store.models.audit import AuditEvent
from headwater.store.models.connections import Connection, EnvironmentVariable
from headwater.store.models.console import ConsoleLoginFailure, ConsoleSession
from headwater.store.models.leases import Lease
from headwater.store.models.logic import LogicStepRun, RunVariables
from headwater.store.models.notifications import EmailDelivery
from headwater.store.models.rivers import River, RiverGroup, RiverReference, RiverVersion
from headwater.store.models.run_parts import RunPart
from headwater.store.models.run_stats import RunDailyStat, RunMetricDelta, RunMetricTotal
from headwater.store.models.runs import Run, RunGroup, RunLog, ScheduleState
from headwater.store.models.tokens import ApiToken
from headwater.store.models.webhooks import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "Account",
    "ApiToken",
    "AuditEvent",
    "Connection",
    "ConsoleLoginFailure",
    "ConsoleSession",
    "EmailDelivery",
    "Environment",
    "EnvironmentVariable",
    "Lease",
    "LogicStepRun",
    "PlanChange",
    "River",
    "RiverGroup",
    "RiverReference",
    "RiverVersion",
    "Run",
    "RunDailyStat",
    "RunGroup",
    "RunLog",
    "RunMetricDelta",
    "RunMetricTotal",
    "RunPart",
    "RunVariables",
    "ScheduleState",
    "User",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
