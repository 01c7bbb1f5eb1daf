"""What the runner needs from its process: settings, DB sessions, a clock, a way to submit."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from headwater.connectors.registry import Registry, default_registry
from headwater.engine.metering import MeteringPolicy
from headwater.settings import Settings

HEARTBEAT_INTERVAL = timedelta(seconds=5)
CANCEL_POLL_SECONDS = 0.5


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class RunnerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    submit: Callable[[str], None] | None = None
    #: Sends one part of a run split across workers (``runner/parts.py``): the Celery
    #: executor's; ``None`` elsewhere, where a table's ranges are read in this process.
    submit_part: Callable[[str, int], None] | None = None
    worker_name: str = field(default_factory=default_worker_name)
    heartbeat_interval: timedelta = HEARTBEAT_INTERVAL
    #: The connectors runs may open; the process-wide registry unless a test passes another.
    registry: Registry = field(default_factory=default_registry)

    @property
    def lost_after(self) -> timedelta:
        return timedelta(seconds=self.settings.worker_lost_after_seconds)

    @property
    def metering(self) -> MeteringPolicy:
        """How runs are charged, from the ``HEADWATER_UNITS_*`` settings."""
        return MeteringPolicy(
            bytes_per_unit=self.settings.units_bytes_per_unit,
            min_units=self.settings.units_minimum,
            api_units_per_table=self.settings.units_per_api_table,
        )

    def __post_init__(self) -> None:
        # Beat at least three times per "lost" window, so one slow beat never reaps a live run.
        self.heartbeat_interval = min(self.heartbeat_interval, self.lost_after / 3)

    cancel_poll_seconds: float = CANCEL_POLL_SECONDS
