"""What every command needs: settings, a ready metadata DB, and one-line fatal errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer
from sqlalchemy import Engine, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from headwater.settings import Settings
from headwater.store import migrate
from headwater.store.engine import make_engine, make_session_factory

if TYPE_CHECKING:
    from headwater.services.bootstrap import BootstrapResult


@dataclass
class Metadata:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]


def fail(message: str) -> typer.Exit:
    """Print a one-line error on stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _first_line(exc: BaseException) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return detail[0] if detail else exc.__class__.__name__


def open_metadata(settings: Settings | None = None, *, upgrade: bool = True) -> Metadata:
    """Connect to the metadata DB (and migrate it); exit with one line naming the URL on failure."""
    settings = settings or Settings()
    try:
        engine = make_engine(settings.resolved_database_url())
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        if upgrade:
            migrate.upgrade(engine)
    except (ArgumentError, SQLAlchemyError, ValueError, OSError) as exc:
        raise fail(
            f"cannot use the metadata database {settings.masked_database_url()}: {_first_line(exc)}"
        ) from None
    return Metadata(settings, engine, make_session_factory(engine))


def ensure_configured_account(session: Session, settings: Settings) -> BootstrapResult:
    """The default account, created on first use with the admin the settings name."""
    from headwater.services.bootstrap import ensure_default_account

    password = settings.admin_password.get_secret_value() if settings.admin_password else None
    return ensure_default_account(
        session,
        admin_email=settings.admin_email,
        admin_password=password,
        data_dir=settings.resolved_data_dir(),
    )
