"""River groups: a named folder of rivers per environment; only an empty group can go."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headwater.errors import Conflict
from headwater.schemas.environments import GroupOut
from headwater.services.audit import Actor, record_in_scope
from headwater.services.envscope import (
    EnvScope,
    check_name_free,
    commit_or_conflict,
    find_in_scope_by_name,
    get_in_scope,
    list_in_scope,
    name_taken,
)
from headwater.services.names import checked_name
from headwater.store.models import River, RiverGroup


def river_count(session: Session, group_id: str) -> int:
    return int(
        session.scalar(select(func.count()).select_from(River).where(River.group_id == group_id))
        or 0
    )


def group_out(session: Session, group: RiverGroup) -> GroupOut:
    return GroupOut(
        group_id=group.id,
        cross_id=group.id,
        name=group.name,
        group_name=group.name,
        river_count=river_count(session, group.id),
        account_id=group.account_id,
        environment_id=group.environment_id,
        created_at=group.created_at,
    )


def list_groups(session: Session, scope: EnvScope) -> list[RiverGroup]:
    return list_in_scope(session, RiverGroup, scope)


def get_group(session: Session, scope: EnvScope, group_id: str) -> RiverGroup:
    return get_in_scope(session, RiverGroup, scope, group_id, "River group")


def find_by_name(session: Session, scope: EnvScope, name: str) -> RiverGroup | None:
    return find_in_scope_by_name(session, RiverGroup, scope, name)


def _conflict(name: str) -> Conflict:
    return name_taken("A river group", name)


def _audit(
    session: Session, scope: EnvScope, actor: Actor, action: str, group: RiverGroup, now: datetime
) -> None:
    record_in_scope(
        session,
        scope,
        actor,
        action,
        "river_group",
        group.id,
        {"name": group.name},
        now,
    )


def _commit(session: Session, name: str) -> None:
    commit_or_conflict(session, _conflict(name))


def create_group(
    session: Session, scope: EnvScope, actor: Actor, name: str, now: datetime
) -> RiverGroup:
    name = checked_name(name, "name")  # the legacy API passes a bare name
    check_name_free(session, RiverGroup, scope, name, None, "A river group")
    group = RiverGroup(
        account_id=scope.account_id, environment_id=scope.environment_id, name=name, created_at=now
    )
    session.add(group)
    session.flush()
    _audit(session, scope, actor, "river_group.created", group, now)
    _commit(session, name)
    return group


def rename_group(
    session: Session, scope: EnvScope, actor: Actor, group_id: str, name: str, now: datetime
) -> RiverGroup:
    group = get_group(session, scope, group_id)
    name = checked_name(name, "name")
    check_name_free(session, RiverGroup, scope, name, group.id, "A river group")
    if group.name != name:
        group.name = name
        _audit(session, scope, actor, "river_group.renamed", group, now)
        _commit(session, name)
    return group


def delete_group(
    session: Session, scope: EnvScope, actor: Actor, group_id: str, now: datetime
) -> None:
    group = get_group(session, scope, group_id)
    count = river_count(session, group.id)
    if count:
        raise Conflict(
            f"River group {group.name!r} still holds {count} river(s); move or delete them first"
        )
    _audit(session, scope, actor, "river_group.deleted", group, now)
    session.delete(group)
    session.commit()
