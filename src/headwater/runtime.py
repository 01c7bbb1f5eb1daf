"""Which background services a process runs beside the API (sweeper, scheduler, executor).

``headwater up`` runs them all in one process; ``headwater server`` runs only the API and
relies on separate ``scheduler``/``worker`` processes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from headwater.api.app import BackgroundService
from headwater.settings import Settings


def background_services(
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    *,
    with_scheduler: bool,
) -> list[BackgroundService]:
    """The services to start; later parts of the platform register theirs here."""
    del settings, sessions, clock, with_scheduler
    return []
