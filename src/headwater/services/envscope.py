"""The account and environment a domain call acts in, already authorised by its caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from headwater.errors import Conflict, NotFound
from headwater.services.names import clash, taken_message

T = TypeVar("T")


@dataclass(frozen=True)
class EnvScope:
    """Routes build it from path parameters after ``require_scope``; the CLI from its options.

    Services filter every lookup by both ids, so an object of another account or environment
    answers 404 exactly like a missing one.
    """

    account_id: str
    environment_id: str


def get_in_scope(
    session: Session, model: type[T], scope: EnvScope, object_id: str, label: str
) -> T:
    """The row, or 404 when it is missing or belongs to another account or environment."""
    found: Any = session.get(model, object_id)
    if (
        found is None
        or found.account_id != scope.account_id
        or found.environment_id != scope.environment_id
    ):
        raise NotFound(f"{label} {object_id} was not found")
    return cast(T, found)


def find_in_scope_by_name(session: Session, model: type[T], scope: EnvScope, name: str) -> T | None:
    """The row of this account and environment with this name, if any."""
    columns: Any = model
    return session.scalars(
        select(model).where(
            columns.account_id == scope.account_id,
            columns.environment_id == scope.environment_id,
            columns.name == name,
        )
    ).first()


def name_taken(noun: str, name: str) -> Conflict:
    """409 for a duplicate name, e.g. ``name_taken("A river", "x")``."""
    return Conflict(f"{noun} named {name!r} already exists in this environment")


def check_name_free(
    session: Session, model: type[Any], scope: EnvScope, name: str, own_id: str | None, noun: str
) -> None:
    """409 when another row of this environment already has the name, or one that differs
    from it only in letter case or Unicode form (``services.names``)."""
    columns: Any = model
    rows = session.execute(
        select(columns.id, columns.name).where(
            columns.account_id == scope.account_id,
            columns.environment_id == scope.environment_id,
        )
    )
    other = clash(name, ((str(i), str(n)) for i, n in rows), own_id)
    if other is not None:
        raise Conflict(taken_message(noun, name, other, "in this environment"))


def commit_or_conflict(session: Session, conflict: Conflict) -> None:
    """Commit; a unique-name race lost to another writer becomes ``conflict``, not a 500."""
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise conflict from None


def list_in_scope(session: Session, model: type[T], scope: EnvScope) -> list[T]:
    """The rows of this account and environment, by name (connections, groups, ...)."""
    columns: Any = model
    return list(
        session.scalars(
            select(model)
            .where(
                columns.account_id == scope.account_id,
                columns.environment_id == scope.environment_id,
            )
            .order_by(columns.name)
        )
    )
