"""Environments of an account: list the granted ones, create (admins), rename."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.errors import Conflict, Forbidden
from headwater.schemas.environments import EnvironmentOut
from headwater.services.audit import Actor, record
from headwater.services.auth import Principal, check_environment
from headwater.services.envscope import commit_or_conflict
from headwater.services.grants import require_unlimited
from headwater.services.names import clash, taken_message
from headwater.store.models import Environment


def environment_out(environment: Environment) -> EnvironmentOut:
    return EnvironmentOut(
        environment_id=environment.id,
        id=environment.id,
        name=environment.name,
        is_default=environment.is_default,
        account_id=environment.account_id,
        created_at=environment.created_at,
    )


def list_environments(session: Session, principal: Principal) -> list[Environment]:
    environments = session.scalars(
        select(Environment)
        .where(Environment.account_id == principal.account_id)
        .order_by(Environment.is_default.desc(), Environment.name)
    )
    return [e for e in environments if principal.may_use_environment(e.id)]


def _check_name_free(session: Session, account_id: str, name: str, own_id: str | None) -> None:
    """409 for a name another environment of the account has, up to case and Unicode form."""
    rows = session.execute(
        select(Environment.id, Environment.name).where(Environment.account_id == account_id)
    )
    other = clash(name, ((str(i), str(n)) for i, n in rows), own_id)
    if other is not None:
        raise Conflict(taken_message("An environment", name, other, ""))


def _commit(session: Session, name: str) -> None:
    commit_or_conflict(session, Conflict(f"An environment named {name!r} already exists"))


def create_environment(
    session: Session, principal: Principal, actor: Actor, name: str, now: datetime
) -> Environment:
    if not principal.is_admin:
        raise Forbidden("Only account admins can create environments")
    require_unlimited(principal, "creating an environment")
    _check_name_free(session, principal.account_id, name, None)
    environment = Environment(account_id=principal.account_id, name=name, is_default=False)
    environment.created_at = now
    session.add(environment)
    session.flush()
    _audit(session, principal, actor, "environment.created", environment, now)
    _commit(session, name)
    return environment


def rename_environment(
    session: Session,
    principal: Principal,
    actor: Actor,
    environment_id: str,
    name: str,
    now: datetime,
) -> Environment:
    environment = check_environment(session, principal, environment_id)
    _check_name_free(session, principal.account_id, name, environment.id)
    if environment.name != name:
        environment.name = name
        _audit(session, principal, actor, "environment.renamed", environment, now)
        _commit(session, name)
    return environment


def _audit(
    session: Session,
    principal: Principal,
    actor: Actor,
    action: str,
    environment: Environment,
    now: datetime,
) -> None:
    record(
        session,
        account_id=principal.account_id,
        environment_id=environment.id,
        actor=actor,
        action=action,
        entity_type="environment",
        entity_id=environment.id,
        details={"name": environment.name},
        occurred_at=now,
    )
