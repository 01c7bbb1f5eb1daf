"""The Celery executor: ``headwater worker`` processes pull run-group ids from a broker.

Messages carry the run group id only. Tasks are acknowledged late and re-queued if their worker
is lost; a second delivery is harmless because claiming a run is a conditional UPDATE.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError as BrokerUnreachable
from sqlalchemy import Engine

from headwater.executors.base import Executor
from headwater.runner.context import RunnerContext
from headwater.runner.execute import execute_run_group
from headwater.runner.part_task import run_part
from headwater.settings import Settings
from headwater.store.base import utcnow
from headwater.store.engine import make_engine, make_session_factory

logger = logging.getLogger(__name__)

TASK_NAME = "headwater.execute_run_group"
PART_TASK_NAME = "headwater.run_part"


def create_celery_app(settings: Settings) -> Celery:
    if not settings.celery_broker_url:
        raise ValueError("HEADWATER_EXECUTOR=celery needs HEADWATER_CELERY_BROKER_URL")
    app = Celery("headwater", broker=settings.celery_broker_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 3600},
    )
    return app


def register_worker_task(app: Celery, settings: Settings) -> None:
    """The task a worker runs; its runner context (DB engine) is built once per process."""
    state: dict[str, Any] = {}

    def context() -> Any:
        if "context" not in state:
            engine: Engine = make_engine(settings.resolved_database_url())
            executor = CeleryExecutor(app, settings.celery_queue)
            state["engine"] = engine
            state["context"] = RunnerContext(
                settings=settings,
                sessions=make_session_factory(engine),
                clock=utcnow,
                submit=executor.submit,
                submit_part=executor.submit_part,
            )
        return state["context"]

    @app.task(name=TASK_NAME)  # type: ignore[untyped-decorator]
    def execute_run_group_task(run_group_id: str) -> None:
        execute_run_group(context(), run_group_id)

    @app.task(name=PART_TASK_NAME)  # type: ignore[untyped-decorator]
    def run_part_task(run_id: str, part: int) -> None:
        # One range of a table split across workers (runner/parts.py); acknowledged late
        # like every task, and a redelivery of a committed part is a no-op.
        run_part(context(), run_id, part)

    del execute_run_group_task, run_part_task


class CeleryExecutor(Executor):
    name = "celery"

    def __init__(self, app: Celery, queue: str) -> None:
        self._app = app
        self._queue = queue

    def start(self) -> None:
        """Nothing to start: workers are separate processes; the broker connects lazily."""

    def submit(self, run_group_id: str) -> None:
        try:
            self._app.send_task(TASK_NAME, args=[run_group_id], queue=self._queue)
        except BrokerUnreachable as exc:
            # The group is already recorded as pending: the reaper's requeue sweep hands it
            # over again once the broker is back, so the trigger itself has not failed.
            logger.warning(
                "broker unreachable; run group %s stays pending until the requeue sweep: %s",
                run_group_id,
                exc,
            )

    def submit_part(self, run_id: str, part: int) -> None:
        """Queue one part; a broker failure is not fatal: the coordinator does the part."""
        try:
            self._app.send_task(PART_TASK_NAME, args=[run_id, part], queue=self._queue)
        except BrokerUnreachable as exc:
            logger.warning(
                "broker unreachable; part %d of run %s stays local: %s", part, run_id, exc
            )

    def stop(self) -> None:
        self._app.close()
