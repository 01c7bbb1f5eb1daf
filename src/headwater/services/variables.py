"""Environment variables: known to every river of the environment as ``{name}``.

A private variable's value is encrypted at rest (the JSON text of the value, so lists survive)
and shown as a mask; setting it to the mask keeps the stored value.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from headwater.errors import InvalidFields, NotFound
from headwater.schemas.environments import VariableIn, VariableOut
from headwater.security.crypto import MASK, SecretBox
from headwater.services.audit import Actor, record_in_scope
from headwater.services.envscope import EnvScope, list_in_scope
from headwater.services.names import clash, taken_message
from headwater.store.models import EnvironmentVariable

PURPOSE = "variable"


def variable_out(variable: EnvironmentVariable) -> VariableOut:
    return VariableOut(
        name=variable.name,
        value=MASK if variable.is_private else variable.value.get("v"),
        is_private=variable.is_private,
        raw=variable.is_raw,
        updated_at=variable.updated_at,
    )


def list_variables(session: Session, scope: EnvScope) -> list[EnvironmentVariable]:
    return list_in_scope(session, EnvironmentVariable, scope)


def _by_name(session: Session, scope: EnvScope) -> dict[str, EnvironmentVariable]:
    return {v.name: v for v in list_variables(session, scope)}


def set_variables(
    session: Session,
    box: SecretBox,
    scope: EnvScope,
    actor: Actor,
    items: list[VariableIn],
    now: datetime,
) -> list[EnvironmentVariable]:
    """Create or replace each listed variable; others are left alone."""
    existing = _by_name(session, scope)
    errors: list[tuple[str, str]] = []
    changed: list[EnvironmentVariable] = []
    for index, item in enumerate(items):
        current = existing.get(item.name)
        other = None if current else clash(item.name, ((n, n) for n in existing), None)
        if other is not None:
            errors.append(
                (f"variables.{index}.name", taken_message("A variable", item.name, other, ""))
            )
            continue
        if item.is_private and item.value == MASK:
            if current is None or not current.is_private:
                errors.append(
                    (f"variables.{index}.value", "the mask was sent but no value is stored")
                )
            else:
                current.is_raw = item.raw
                changed.append(current)
            continue
        stored: dict[str, Any] = (
            {"v": box.encrypt(json.dumps(item.value), purpose=PURPOSE)}
            if item.is_private
            else {"v": item.value}
        )
        if current is None:
            current = EnvironmentVariable(
                account_id=scope.account_id,
                environment_id=scope.environment_id,
                name=item.name,
                created_at=now,
            )
            session.add(current)
            existing[item.name] = current
        current.value = stored
        current.is_private = item.is_private
        current.is_raw = item.raw
        current.updated_at = now
        changed.append(current)
    if errors:
        session.rollback()
        raise InvalidFields(errors)
    session.flush()
    record_in_scope(
        session,
        scope,
        actor,
        "variables.set",
        "environment_variable",
        None,
        {
            "names": sorted(item.name for item in items),
            "raw": sorted(item.name for item in items if item.raw),
        },
        now,
    )
    session.commit()
    return changed


def delete_variables(
    session: Session, scope: EnvScope, actor: Actor, names: list[str], now: datetime
) -> None:
    existing = _by_name(session, scope)
    missing = [n for n in names if n not in existing]
    if missing:
        raise NotFound(f"Variable(s) not found: {', '.join(missing)}")
    for name in names:
        session.delete(existing[name])
    record_in_scope(
        session,
        scope,
        actor,
        "variables.deleted",
        "environment_variable",
        None,
        {"names": sorted(names)},
        now,
    )
    session.commit()


def resolved_values(session: Session, box: SecretBox, scope: EnvScope) -> dict[str, Any]:
    """Every environment variable with private values decrypted: for runs only."""
    values: dict[str, Any] = {}
    for variable in list_variables(session, scope):
        raw = variable.value.get("v")
        values[variable.name] = (
            json.loads(box.decrypt(str(raw), purpose=PURPOSE)) if variable.is_private else raw
        )
    return values
