"""Every ORM model, imported here so Alembic and the app see one complete metadata."""

from headwater.store.models.accounts import Account, Environment, PlanChange, User
from headwater.store.models.audit import AuditEvent
from headwater.store.models.tokens import ApiToken

__all__ = ["Account", "ApiToken", "AuditEvent", "Environment", "PlanChange", "User"]
