"""Rivers: create, replace, delete, status and variables, each stored as a new version.

Every save runs the same path (validate with the type's model, check references, seal secrets,
store the definition, rewrite references, add a version, audit), whether it comes from the v1
API, the legacy API or ``headwater apply``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from headwater.errors import Conflict, Forbidden, NotFound
from headwater.schemas.rivers import CANONICAL_TYPES, RiverMetadataOut, RiverOut
from headwater.security.crypto import SecretBox
from headwater.services import river_checks, river_secrets
from headwater.services.audit import Actor, record_in_scope
from headwater.services.envscope import (
    EnvScope,
    check_name_free,
    commit_or_conflict,
    find_in_scope_by_name,
    get_in_scope,
    name_taken,
)
from headwater.services.river_checks import AnyRiver, References
from headwater.store.models import River, RiverReference, RiverVersion


def canonical_type(value: str) -> str:
    return CANONICAL_TYPES.get(value, value)


def stored_definition(
    model: AnyRiver, box: SecretBox, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """The definition as stored: canonical type, no status (a column), secrets sealed."""
    definition = model.model_dump(mode="json")
    definition["type"] = canonical_type(model.type)
    definition["metadata"].pop("river_status", None)
    return river_secrets.seal(definition, box, previous)


def river_out(river: River) -> RiverOut:
    shown = river_secrets.masked(river.definition)
    return RiverOut(
        cross_id=river.id,
        river_id=river.id,
        name=river.name,
        type=river.river_type,
        metadata=RiverMetadataOut(
            description=str(shown.get("metadata", {}).get("description", "")),
            river_status=river.status,
        ),
        group_id=river.group_id,
        settings=shown.get("settings", {}),
        schedulers=shown.get("schedulers", []),
        notifications=shown.get("notifications", {}),
        variables=shown.get("variables", {}),
        properties=shown.get("properties", {}),
        account_id=river.account_id,
        environment_id=river.environment_id,
        version=river.version,
        created_at=river.created_at,
        updated_at=river.updated_at,
    )


def get_river(session: Session, scope: EnvScope, river_id: str) -> River:
    """The river, or 404 when missing or in another account or environment."""
    return get_in_scope(session, River, scope, river_id, "River")


def get_river_in_environment(session: Session, environment_id: str, river_id: str) -> River:
    """The river, or 404 when it is not in this environment.

    For routes under ``require_scope``, which already checked that the environment belongs
    to the caller's account.
    """
    river = session.get(River, river_id)
    if river is None or river.environment_id != environment_id:
        raise NotFound(f"River {river_id} was not found")
    return river


def find_by_name(session: Session, scope: EnvScope, name: str) -> River | None:
    return find_in_scope_by_name(session, River, scope, name)


def resolve_river(session: Session, scope: EnvScope, name_or_id: str) -> River:
    """The river of this environment with this id or, failing that, this exact name.

    Lets people who wrote a flow as code (``headwater apply``) run it by the name they gave it.
    """
    river = session.scalars(
        select(River).where(
            River.id == name_or_id,
            River.account_id == scope.account_id,
            River.environment_id == scope.environment_id,
        )
    ).first()
    river = river or find_by_name(session, scope, name_or_id)
    if river is None:
        raise NotFound(
            f"No river with the id or name {name_or_id!r} in environment {scope.environment_id}"
            " ('headwater rivers list' shows them)"
        )
    return river


def list_rivers(
    session: Session,
    scope: EnvScope,
    *,
    name: str | None = None,
    group_id: str | None = None,
    river_type: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[River], int]:
    conditions = [
        River.account_id == scope.account_id,
        River.environment_id == scope.environment_id,
    ]
    if name:
        conditions.append(func.lower(River.name).contains(name.lower(), autoescape=True))
    if group_id:
        conditions.append(River.group_id == group_id)
    if river_type:
        conditions.append(River.river_type == canonical_type(river_type))
    total = session.scalar(select(func.count()).select_from(River).where(*conditions)) or 0
    query = select(River).where(*conditions).order_by(River.name, River.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query)), int(total)


def _apply_definition(river: River, definition: dict[str, Any]) -> None:
    river.definition = definition
    river.name = str(definition["name"])
    river.river_type = str(definition["type"])
    river.group_id = definition.get("group_id")
    schedulers = definition.get("schedulers") or []
    river.cron_expression = schedulers[0]["cron_expression"] if schedulers else None
    river.schedule_enabled = bool(schedulers and schedulers[0].get("is_enabled", True))
    zone = schedulers[0].get("timezone") if schedulers else None
    river.schedule_timezone = None if zone in (None, "UTC") else str(zone)


def _write_references(session: Session, river: River, refs: References) -> None:
    session.execute(delete(RiverReference).where(RiverReference.river_id == river.id))
    for connection_id in sorted(refs.connections):
        session.add(RiverReference(river_id=river.id, ref_type="connection", ref_id=connection_id))
    for other in sorted(refs.rivers):
        session.add(RiverReference(river_id=river.id, ref_type="river", ref_id=other))


def add_version(
    session: Session, river: River, change: str, actor: Actor, now: datetime
) -> RiverVersion:
    version = RiverVersion(
        river_id=river.id,
        version=river.version,
        change=change,
        status=river.status,
        definition=river.definition,
        actor_type=actor.kind,
        actor_id=actor.id,
        created_at=now,
    )
    session.add(version)
    return version


def audit(
    session: Session, scope: EnvScope, actor: Actor, action: str, river: River, now: datetime
) -> None:
    record_in_scope(
        session,
        scope,
        actor,
        action,
        "river",
        river.id,
        {"name": river.name, "river_type": river.river_type, "version": river.version},
        now,
    )


def _check_name_free(session: Session, scope: EnvScope, name: str, own_id: str | None) -> None:
    check_name_free(session, River, scope, name, own_id, "A river")


def commit(session: Session, name: str) -> None:
    commit_or_conflict(session, name_taken("A river", name))


def check_code_allowed(actor: Actor, model: AnyRiver, stored: dict[str, Any] | None) -> None:
    """A definition whose ``dbt``/``python`` steps differ from the stored ones (new, changed,
    restored) needs ``river:code``: they run code on the worker. Unchanged code steps (a
    rename, a schedule, variables) need no more than ``river:write``."""
    steps = river_checks.code_steps(model)
    if not steps or actor.may_run_code:
        return
    if stored is not None and steps == river_checks.code_steps_of_definition(stored):
        return
    kinds = ", ".join(sorted({str(step["type"]) for step in steps}))
    raise Forbidden(
        f"Saving a river with {kinds} steps needs the scope 'river:code' (code that runs on "
        "the worker): an admin, or a token an admin granted it, may do this"
    )


def create_river(
    session: Session, box: SecretBox, scope: EnvScope, actor: Actor, model: AnyRiver, now: datetime
) -> River:
    check_code_allowed(actor, model, None)
    refs = river_checks.check_river(session, scope, model, river_id=None)
    _check_name_free(session, scope, model.name, None)
    river = River(
        account_id=scope.account_id,
        environment_id=scope.environment_id,
        status=model.metadata.river_status or "active",
        version=1,
        created_by=actor.user_id or actor.id,
        updated_by=actor.user_id or actor.id,
        created_at=now,
        updated_at=now,
    )
    _apply_definition(river, stored_definition(model, box, None))
    session.add(river)
    session.flush()
    _write_references(session, river, refs)
    add_version(session, river, "created", actor, now)
    audit(session, scope, actor, "river.created", river, now)
    commit(session, model.name)
    return river


def replace_river(
    session: Session,
    box: SecretBox,
    scope: EnvScope,
    actor: Actor,
    river_id: str,
    model: AnyRiver,
    now: datetime,
    *,
    change: str = "updated",
) -> River:
    """Full replacement; status is kept (activate/disable change it)."""
    river = get_river(session, scope, river_id)
    check_code_allowed(actor, model, river.definition)
    refs = river_checks.check_river(session, scope, model, river_id=river.id)
    _check_name_free(session, scope, model.name, river.id)
    _apply_definition(river, stored_definition(model, box, river.definition))
    river.version += 1
    river.updated_at = now
    river.updated_by = actor.user_id or actor.id
    _write_references(session, river, refs)
    add_version(session, river, change, actor, now)
    audit(session, scope, actor, f"river.{change}", river, now)
    commit(session, model.name)
    return river


def rivers_referring_to(session: Session, ref_type: str, ref_id: str) -> list[River]:
    """The rivers whose saved references name this object (a river, a connection), by name."""
    return list(
        session.scalars(
            select(River)
            .where(
                River.id.in_(
                    select(RiverReference.river_id).where(
                        RiverReference.ref_type == ref_type, RiverReference.ref_id == ref_id
                    )
                )
            )
            .order_by(River.name)
        )
    )


def referencing_rivers(session: Session, river_id: str) -> list[River]:
    return rivers_referring_to(session, "river", river_id)


def delete_river(
    session: Session, scope: EnvScope, actor: Actor, river_id: str, now: datetime
) -> None:
    river = get_river(session, scope, river_id)
    users = [r for r in referencing_rivers(session, river.id) if r.id != river.id]
    if users:
        names = ", ".join(f"{r.name!r} ({r.id})" for r in users)
        raise Conflict(f"River {river.name!r} is run by logic rivers: {names}")
    audit(session, scope, actor, "river.deleted", river, now)
    session.execute(delete(RiverReference).where(RiverReference.river_id == river.id))
    session.execute(delete(RiverVersion).where(RiverVersion.river_id == river.id))
    session.delete(river)
    session.commit()


def set_status(
    session: Session, scope: EnvScope, actor: Actor, river_id: str, status: str, now: datetime
) -> River:
    """Activate or disable; a no-op when already there (no version, no audit event)."""
    river = get_river(session, scope, river_id)
    if river.status == status:
        return river
    river.status = status
    river.version += 1
    river.updated_at = now
    river.updated_by = actor.user_id or actor.id
    change = "activated" if status == "active" else "disabled"
    add_version(session, river, change, actor, now)
    audit(session, scope, actor, f"river.{change}", river, now)
    session.commit()
    return river


def definition_for_run(box: SecretBox, river: River) -> dict[str, Any]:
    """The river's definition with secrets in clear, for the engine (never for responses)."""
    return river_secrets.opened(river.definition, box)
