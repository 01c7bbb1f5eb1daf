"""Run groups in worker processes, so runs never share the API's interpreter.

A run holds the GIL for long stretches (Arrow conversion, row loops of a REST source, a
Python step's result) and opens connections of its own; in the server's interpreter that
made every request wait behind it (p95 near 4 s in ``bench/load_test.py``). The local
executor therefore runs groups in a pool of worker processes forked from a *forkserver*: the
forkserver imports the runner once, every worker is a cheap ``fork`` of it (not of the
multi-threaded server), and a worker keeps its metadata connections from one group to the
next (a process and connections per group cost about half a second per run under load).

What the thread executor got for free is kept by the database, which both sides already
used: cancel requests and timeouts reach the run through its ``GroupMonitor`` (it polls the
metadata DB), logs and progress are rows the API streams, and heartbeats carry the child's
own ``host:pid`` so the reaper can tell a dead worker from a live one. A worker whose server
dies exits at once (as the thread did with its process), so a killed server leaves no run
behind that nobody watches.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext

from sqlalchemy import Engine

from headwater.runner.context import RunnerContext
from headwater.settings import Settings

logger = logging.getLogger(__name__)

#: Imported once by the forkserver, so a child starts without importing the runner again.
PRELOAD = ["headwater.executors.run_process", "headwater.runner.execute"]

_CONTEXT: list[ForkServerContext] = []
_CONTEXT_LOCK = threading.Lock()


def process_context() -> ForkServerContext:
    """The forkserver context of this process, with the runner preloaded (made once)."""
    with _CONTEXT_LOCK:
        if not _CONTEXT:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _CONTEXT.append(context)
        return _CONTEXT[0]


def _exit_with_parent() -> None:
    """End this child when the process that started it dies (SIGKILL of the server)."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(70)

    threading.Thread(target=watch, name="headwater-parent-watch", daemon=True).start()


@dataclass
class _Worker:
    """What one worker process keeps between run groups: its metadata engine and context."""

    engine: Engine
    context: RunnerContext


#: Set once per worker process by :func:`init_worker` (never at import time).
_WORKER: list[_Worker] = []


def init_worker(settings: Settings) -> None:
    """The pool's initializer, in each worker process: logging, one engine, one context."""
    from headwater.logconfig import configure_logging
    from headwater.store.base import utcnow
    from headwater.store.engine import make_engine, make_session_factory

    _exit_with_parent()
    # Runs are background work: when cores are scarce the API's requests go first (a run
    # in the API's interpreter used to get at most its share of one GIL). Relative to the
    # forkserver's niceness, which is the API's.
    if settings.run_nice:
        os.nice(settings.run_nice)
    configure_logging(settings.log_level)
    # One group at a time here (its tables may pipeline): a small pool is enough.
    engine = make_engine(settings.resolved_database_url(), pool_size=settings.table_concurrency + 2)
    context = RunnerContext(settings=settings, sessions=make_session_factory(engine), clock=utcnow)
    _WORKER.append(_Worker(engine, context))


def run_group_in_worker(run_group_id: str) -> str:
    """Execute one group in this worker process; returns the worker's name (``host:pid``)."""
    from headwater.runner.execute import execute_run_group

    context = _WORKER[0].context
    execute_run_group(context, run_group_id)
    return context.worker_name


def warm_up() -> None:
    """Nothing: submitted at start so the forkserver and a first worker are ready early."""
