"""Copy a river into another environment of the same account, connections mapped by name.

This is the console's side of promoting flows as code (``headwater apply`` does the same from
YAML): connection and sub-river ids of the source environment become names
(``flows.translate_refs``), and the names become the ids of the same-named objects in the
target environment. A name the target lacks is refused with a message that names it; the copy
is then created through ``rivers.create_river`` (validation, version 1, audit) and starts
disabled, so it cannot fire on the target environment's schedule before someone looks at it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.errors import InvalidInput
from headwater.schemas.rivers import RIVER_IN
from headwater.security.crypto import SecretBox
from headwater.services import rivers
from headwater.services.audit import Actor
from headwater.services.envscope import EnvScope
from headwater.services.flows import translate_refs
from headwater.store.models import Connection, River


def _names(session: Session, model: type[Connection] | type[River], environment_id: str) -> Any:
    rows = session.execute(
        select(model.id, model.name).where(model.environment_id == environment_id)
    )
    return {row_id: name for row_id, name in rows}


def copy_river(
    session: Session,
    box: SecretBox,
    source: EnvScope,
    target: EnvScope,
    actor: Actor,
    river_id: str,
    name: str,
    now: datetime,
) -> River:
    """The new river in ``target`` (disabled); the source river is unchanged."""
    if source == target:
        raise InvalidInput("Choose another environment to copy the data flow to")
    river = rivers.get_river(session, source, river_id)
    conn_names = _names(session, Connection, source.environment_id)
    river_names = _names(session, River, source.environment_id)
    conn_ids = {v: k for k, v in _names(session, Connection, target.environment_id).items()}
    river_ids = {v: k for k, v in _names(session, River, target.environment_id).items()}
    missing: list[str] = []

    def to_target(table: dict[str, str], kind: str) -> Any:
        def resolve(name: str) -> str:
            if name not in table:
                missing.append(f"{kind} {name!r}")
                return "0" * 24
            return table[name]

        return resolve

    kind = river.river_type
    named = translate_refs(
        kind,
        dict(rivers.definition_for_run(box, river).get("properties") or {}),
        to_names=True,
        conn=lambda i: conn_names.get(i, i),
        river=lambda i: river_names.get(i, i),
    )
    properties = translate_refs(
        kind,
        named,
        to_names=False,
        conn=to_target(conn_ids, "connection"),
        river=to_target(river_ids, "data flow"),
    )
    if missing:
        raise InvalidInput(
            "The target environment has no "
            + ", ".join(sorted(set(missing)))
            + ": create it there (same name) first"
        )
    definition = dict(rivers.definition_for_run(box, river))
    definition.update(name=name.strip() or river.name, properties=properties, group_id=None)
    definition["metadata"] = {**definition.get("metadata", {}), "river_status": "disabled"}
    try:
        model = RIVER_IN.validate_python(definition)
    except ValidationError as exc:  # a definition saved before a rule was tightened
        problems = "; ".join(str(e["msg"]) for e in exc.errors(include_url=False))
        raise InvalidInput(f"The data flow cannot be copied as it is: {problems}") from None
    return rivers.create_river(session, box, target, actor, model, now)
