"""Triggering while the Celery broker is unreachable: the group stays pending, nothing raises.

The run group is already recorded when the executor is asked to send its message; the requeue
sweeper sends it again once the broker answers (``tests/faults/test_broker_restart.py`` shows
the whole story against a real Redis that restarts).
"""

from __future__ import annotations

import logging
import time

import pytest

from headwater.executors.celery import CeleryExecutor, create_celery_app
from headwater.settings import Settings
from tests.live import free_port


def test_submit_to_an_unreachable_broker_logs_and_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = Settings(executor="celery", celery_broker_url=url, celery_queue="hw-unreachable")
    executor = CeleryExecutor(create_celery_app(settings), settings.celery_queue)
    started = time.monotonic()
    try:
        with caplog.at_level(logging.WARNING, logger="headwater.executors.celery"):
            executor.submit("0123456789abcdef0123456789abcdef")
    finally:
        executor.stop()
    assert time.monotonic() - started < 10
    warnings = [r.getMessage() for r in caplog.records if r.name == "headwater.executors.celery"]
    assert len(warnings) == 1, warnings
    assert "run group 0123456789abcdef0123456789abcdef stays pending" in warnings[0]
    assert "Connection refused" in warnings[0]
