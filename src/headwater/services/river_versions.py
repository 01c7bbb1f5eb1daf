"""River history and the operations built on a stored definition: versions, restore, variables.

A restore re-validates the old definition against today's environment (its connections and
rivers must still exist), then saves it as a new version: history only ever grows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.errors import InvalidFields, NotFound
from headwater.schemas.rivers import RIVER_IN, Author, RiverVersionOut, RiverVersionSummary
from headwater.security.crypto import SecretBox
from headwater.services import river_secrets, rivers
from headwater.services.audit import Actor
from headwater.services.envscope import EnvScope
from headwater.services.river_checks import AnyRiver
from headwater.store.models import River, RiverGroup, RiverVersion


def summary(version: RiverVersion) -> RiverVersionSummary:
    return RiverVersionSummary(
        version_id=version.id,
        version=version.version,
        change=version.change,
        river_status=version.status,
        created_at=version.created_at,
        created_by=Author(type=version.actor_type, id=version.actor_id),
    )


def version_out(version: RiverVersion) -> RiverVersionOut:
    return RiverVersionOut(
        **summary(version).model_dump(),
        river_id=version.river_id,
        definition=river_secrets.masked(version.definition),
    )


def list_versions(session: Session, scope: EnvScope, river_id: str) -> list[RiverVersion]:
    river = rivers.get_river(session, scope, river_id)
    return list(
        session.scalars(
            select(RiverVersion)
            .where(RiverVersion.river_id == river.id)
            .order_by(RiverVersion.version.desc())
        )
    )


def get_version(session: Session, scope: EnvScope, river_id: str, version_id: str) -> RiverVersion:
    river = rivers.get_river(session, scope, river_id)
    version = session.get(RiverVersion, version_id)
    if version is None or version.river_id != river.id:
        raise NotFound(f"Version {version_id} of river {river_id} was not found")
    return version


def model_of(definition: dict[str, Any]) -> AnyRiver:
    """Parse a stored definition back into its model (secrets stay sealed)."""
    try:
        return RIVER_IN.validate_python(definition)
    except ValidationError as exc:
        raise InvalidFields(
            [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        ) from None


def restore(
    session: Session,
    box: SecretBox,
    scope: EnvScope,
    actor: Actor,
    river_id: str,
    version_id: str,
    now: datetime,
) -> River:
    version = get_version(session, scope, river_id, version_id)
    definition = dict(version.definition)
    group_id = definition.get("group_id")
    if group_id is not None and session.get(RiverGroup, group_id) is None:
        definition["group_id"] = None  # the group was deleted since; restore ungrouped
    return rivers.replace_river(
        session, box, scope, actor, river_id, model_of(definition), now, change="restored"
    )


def shown_variables(river: River) -> dict[str, Any]:
    """The river's variables as answered: private values masked."""
    variables: dict[str, Any] = river_secrets.masked(river.definition).get("variables", {})
    return variables


def river_variables(session: Session, scope: EnvScope, river_id: str) -> dict[str, Any]:
    return shown_variables(rivers.get_river(session, scope, river_id))


def set_river_variables(
    session: Session,
    box: SecretBox,
    scope: EnvScope,
    actor: Actor,
    river_id: str,
    variables: dict[str, Any],
    now: datetime,
) -> River:
    """Replace the river's variables; references are re-checked like any other save."""
    river = rivers.get_river(session, scope, river_id)
    definition = dict(river.definition)
    definition["variables"] = variables
    return rivers.replace_river(
        session, box, scope, actor, river.id, model_of(definition), now, change="variables"
    )
