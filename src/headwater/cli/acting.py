"""Commands that manage the account headlessly act as its first admin, on the metadata DB.

This is how a fresh deployment gets its first API token without a browser: the command
creates the database and the default account if needed, then acts with admin rights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.cli.common import ensure_configured_account, fail, open_metadata
from headwater.errors import HeadwaterError
from headwater.services.auth import Principal, check_environment, principal_for_user
from headwater.services.bootstrap import BootstrapResult
from headwater.services.envscope import EnvScope
from headwater.store.models import User


@dataclass
class AdminContext:
    session: Session
    principal: Principal
    account: BootstrapResult


@contextmanager
def acting_as_first_admin() -> Iterator[AdminContext]:
    """A session on the metadata DB and the principal of the account's first admin."""
    with _bootstrapped() as (session, result):
        yield AdminContext(session, principal_for_user(_first_admin(session, result)), result)


@contextmanager
def acting_as_instance_admin() -> Iterator[AdminContext]:
    """Like ``acting_as_first_admin``, as the installation's first instance admin.

    The operator's shell on the metadata DB can do what an instance admin can; the touched
    account's audit trail records the actor ``instance_admin`` with ``via: cli``.
    """
    with _bootstrapped() as (session, result):
        admin = session.scalars(
            select(User)
            .where(
                User.is_instance_admin.is_(True),
                User.role == "admin",
                User.is_active.is_(True),
            )
            .order_by(User.created_at, User.id)
            .limit(1)
        ).first()
        if admin is None:
            raise fail(
                "no active instance admin exists; grant one with "
                "`headwater users instance-admin EMAIL`"
            )
        yield AdminContext(session, principal_for_user(admin), result)


def _first_admin(session: Session, result: BootstrapResult) -> User:
    return session.scalars(
        select(User)
        .where(
            User.account_id == result.account_id,
            User.role == "admin",
            User.is_active.is_(True),
        )
        .order_by(User.created_at, User.id)
        .limit(1)
    ).one()


@contextmanager
def _bootstrapped() -> Iterator[tuple[Session, BootstrapResult]]:
    """A session on the migrated metadata DB, with the default account created if needed."""
    metadata = open_metadata()
    try:
        with metadata.sessions() as session:
            result = ensure_configured_account(session, metadata.settings)
            if result.generated_password:
                typer.echo(
                    f"created the default account; log in as {result.admin_email} with the "
                    f"generated password {result.generated_password}  (shown once)",
                    err=True,
                )
            yield session, result
    finally:
        metadata.engine.dispose()


def environment_scope(ctx: AdminContext, environment: str | None) -> EnvScope:
    """The account's default environment, or ``environment`` once checked to be the account's."""
    if environment is None:
        return EnvScope(ctx.account.account_id, ctx.account.environment_id)
    try:
        check_environment(ctx.session, ctx.principal, environment)
    except HeadwaterError as exc:
        raise fail(exc.message) from None
    return EnvScope(ctx.account.account_id, environment)
