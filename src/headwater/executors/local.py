"""The default executor: a bounded pool inside the serving process.

With ``processes=True`` (what the server and ``headwater up`` use) groups run in a pool of
worker processes (see ``run_process``); otherwise in threads of this process (tests and
embedders that hand the runner objects a worker process could not get, such as a fake clock).

A worker process that dies (killed, out of memory) breaks a ``ProcessPoolExecutor``: the pool
stops its other workers too. Every group that was running in it then has its running runs
failed at once with a message, its runs not yet started go to a new pool, and the executor
carries on; the same crash in a thread executor would have taken the whole server down.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from headwater.executors.base import Executor
from headwater.executors.run_process import (
    init_worker,
    process_context,
    run_group_in_worker,
    warm_up,
)
from headwater.runner.context import RunnerContext
from headwater.runner.execute import execute_run_group
from headwater.services import runs as run_service

logger = logging.getLogger(__name__)

LOST_PROCESS_MESSAGE = "The run's worker process ended unexpectedly"


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, context: RunnerContext, max_workers: int, *, processes: bool = False):
        self._context = context
        self._max_workers = max_workers
        self._processes = processes
        self._pool: ThreadPoolExecutor | ProcessPoolExecutor | None = None
        self._futures: set[Future[object]] = set()
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        self._stopped = False
        if self._processes:
            # The forkserver imports the runner before it forks the first worker: start that
            # now, beside the app's startup rather than in it or in the first trigger.
            threading.Thread(target=self._warm_up, name="headwater-warm-up", daemon=True).start()
        # Groups queued in a previous life of this process would otherwise wait forever.
        with self._context.sessions() as session:
            for group_id in run_service.pending_groups(session):
                self.submit(group_id)

    def _warm_up(self) -> None:
        with self._lock:
            self._pool = self._pool or self._new_pool()
            pool = self._pool
        with contextlib.suppress(RuntimeError):  # stopped in the meantime
            pool.submit(warm_up)

    def _new_pool(self) -> ThreadPoolExecutor | ProcessPoolExecutor:
        if self._processes:
            return ProcessPoolExecutor(
                max_workers=self._max_workers,
                mp_context=process_context(),
                initializer=init_worker,
                initargs=(self._context.settings,),
            )
        return ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="headwater-run")

    def submit(self, run_group_id: str) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = self._new_pool()
            pool = self._pool
            future: Future[object]
            if isinstance(pool, ProcessPoolExecutor):
                future = pool.submit(run_group_in_worker, run_group_id)
            else:
                future = pool.submit(execute_run_group, self._context, run_group_id)
            self._futures.add(future)
        future.add_done_callback(partial(self._done, run_group_id, pool))

    def _done(
        self,
        run_group_id: str,
        pool: ThreadPoolExecutor | ProcessPoolExecutor,
        future: Future[object],
    ) -> None:
        with self._lock:
            self._futures.discard(future)
        error = None if future.cancelled() else future.exception()
        if isinstance(error, BrokenProcessPool):
            self._recover(run_group_id, pool)
        elif error is not None:
            logger.error("run group execution crashed", exc_info=error)

    def _recover(self, run_group_id: str, broken: ThreadPoolExecutor | ProcessPoolExecutor) -> None:
        """The group's worker process died (or the pool stopped it with a dying sibling)."""
        with self._lock:
            if self._pool is broken:
                self._pool = None  # the next submit starts a fresh pool
        with self._context.sessions() as session:
            failed = run_service.fail_group_runs(
                session, run_group_id, now=self._context.clock(), error=LOST_PROCESS_MESSAGE
            )
            waiting = run_service.has_pending_runs(session, run_group_id)
        if failed:
            logger.error(
                "run group %s: %s; %d run(s) failed",
                run_group_id,
                LOST_PROCESS_MESSAGE,
                len(failed),
            )
        if waiting and not self._stopped:
            self.submit(run_group_id)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until every submitted group finished (tests and graceful shutdown)."""
        with self._lock:
            futures = list(self._futures)
        done = [f for f in futures if not f.cancelled()]
        for future in done:
            try:
                future.result(timeout=timeout)
            except Exception:
                return False
        return True

    def stop(self) -> None:
        self._stopped = True
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
