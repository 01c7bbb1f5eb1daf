"""One run group in a worker process of its own, so runs never share the API's interpreter.

A run holds the GIL for long stretches (Arrow conversion, row loops of a REST source, a
Python step's result) and opens connections of its own; in the server's interpreter that
made every request wait behind it (p95 near 4 s in ``bench/load_test.py``). The local
executor therefore starts each group in a child of a *forkserver*: the forkserver imports
the runner once, and every child is a cheap ``fork`` of it, not of the multi-threaded server.

What the thread executor got for free is kept by the database, which both sides already
used: cancel requests and timeouts reach the run through its ``GroupMonitor`` (it polls the
metadata DB), logs and progress are rows the API streams, and heartbeats carry the child's
own ``host:pid`` so the reaper can tell a dead child from a live one. A child whose server
dies exits at once (as the thread did with its process), so a killed server leaves no run
behind that nobody watches.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from multiprocessing.context import ForkServerContext

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


def run_group_in_child(settings: Settings, run_group_id: str) -> None:
    """The child's entry point: its own metadata engine, then the group, then exit."""
    from headwater.logconfig import configure_logging
    from headwater.runner.context import RunnerContext
    from headwater.runner.execute import execute_run_group
    from headwater.store.base import utcnow
    from headwater.store.engine import make_engine, make_session_factory

    _exit_with_parent()
    configure_logging(settings.log_level)
    # One run at a time here: the monitor, log writes and the run itself need few connections.
    engine = make_engine(settings.resolved_database_url(), pool_size=3)
    try:
        context = RunnerContext(
            settings=settings, sessions=make_session_factory(engine), clock=utcnow
        )
        execute_run_group(context, run_group_id)
    finally:
        engine.dispose()
