"""What the runner and the river-type handlers share: the prepared river, one run's job,
its outcome, cancellation, and the handler interface.

Kept apart from ``execute`` (which drives handlers) and from the handlers themselves so every
module of the runner imports it at the top: no handler needs the executor, and the executor
reaches the handlers only through ``handlers.HANDLERS``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from headwater.runner.context import RunnerContext
from headwater.store.models.runs import RunGroup

#: What a handler prepares once per run group (table jobs, a logic plan, ...).
D = TypeVar("D")


@dataclass(frozen=True)
class PreparedRiver(Generic[D]):
    """What the runner needs to know before running any of a group's runs."""

    definition: D
    timeout_seconds: float | None = None
    max_attempts: int = 1
    #: Wait before the first retry; doubled for each further one (capped by ``execute``).
    retry_delay_seconds: float = 0.0
    secrets: tuple[str, ...] = ()
    #: Runs of the group that may execute at once. 1 keeps them in order (logic steps); a
    #: handler whose runs are independent (one per table) raises it to pipeline them.
    concurrency: int = 1


@dataclass
class RunJob(Generic[D]):
    """One run handed to a handler, with the hooks it reports through."""

    run_id: str
    run_group_id: str
    river_id: str
    task_key: str | None
    sub_river_id: str | None
    variables: dict[str, Any]
    river: PreparedRiver[D]
    cancel: threading.Event
    log: Callable[[str, str], None]
    progress: Callable[[int, int], None]
    attempt: int = 1
    #: Live figures merged into the run record's details (a continuous CDC run's lag).
    report: Callable[[dict[str, Any]], None] = field(default=lambda fields: None)


@dataclass
class Outcome:
    rows: int = 0
    size: int = 0
    units: Decimal = Decimal(0)
    details: dict[str, Any] = field(default_factory=dict)


class RunCanceled(Exception):
    """Raised by handlers that noticed the cancel event."""


class Handler(Protocol[D]):
    """One river type: ``prepare`` once per group (in the group's session), ``run`` per run."""

    def prepare(
        self, context: RunnerContext, session: Session, group: RunGroup
    ) -> PreparedRiver[D]: ...

    def run(self, context: RunnerContext, job: RunJob[D]) -> Outcome: ...
