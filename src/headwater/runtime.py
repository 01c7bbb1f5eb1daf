"""What a process runs beside (or instead of) the API: executor, reaper, scheduler, sweeper.

``headwater up`` runs them all in one process; ``headwater server`` runs the API with the
executor; ``headwater scheduler`` and ``headwater worker`` run their parts alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from headwater.api.app import BackgroundService
from headwater.executors.base import Executor
from headwater.runner.context import RunnerContext
from headwater.runner.reaper import Reaper
from headwater.services.token_sweeper import TokenSweeper
from headwater.services.webhook_dispatch import WebhookDispatcher
from headwater.settings import Settings


@dataclass
class Runtime:
    executor: Executor
    context: RunnerContext
    services: list[BackgroundService] = field(default_factory=list)


def build_executor(settings: Settings, context: RunnerContext) -> Executor:
    if settings.executor == "celery":
        from headwater.executors.celery import CeleryExecutor, create_celery_app

        return CeleryExecutor(create_celery_app(settings), settings.celery_queue)
    from headwater.executors.local import LocalExecutor

    return LocalExecutor(context, settings.local_workers, processes=True)


def build_runtime(
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    *,
    with_scheduler: bool,
) -> Runtime:
    """The executor and the background services of one process."""
    context = RunnerContext(settings=settings, sessions=sessions, clock=clock)
    executor = build_executor(settings, context)
    context.submit = executor.submit
    services: list[BackgroundService] = [executor, Reaper(context)]
    # Every API or scheduler process dispatches webhooks; queueing and claiming are
    # conditional updates, so several dispatchers never send a delivery twice.
    services.append(WebhookDispatcher.from_settings(settings, sessions, clock))
    if with_scheduler:
        from headwater.scheduler.service import Scheduler

        services.append(Scheduler(context))
        # Deletes tokens after a plan downgrade's notice; `headwater scheduler` runs it too.
        services.append(TokenSweeper(sessions, clock))
    return Runtime(executor=executor, context=context, services=services)
