"""Reader threads feeding one writer through a bounded queue.

Memory stays bounded because at most ``max_in_flight`` items wait in the queue and each reader
holds at most one more; a slow target therefore slows the readers down instead of piling data
up. The writer runs in the caller's thread and polls the cancel event between items; on
cancel or on any error it stops the readers, asks the source to cancel server-side (a reader
blocked inside a long query only returns when the server stops it), and re-raises.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from headwater.connectors.errors import Cancelled

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1
_JOIN_SECONDS = 30.0


def transfer(
    producers: list[Callable[[], Iterator[Any]]],
    consume: Callable[[Any], None],
    *,
    max_in_flight: int,
    cancel: threading.Event | None,
    on_abort: Callable[[], None],
) -> None:
    """Run every producer in its own thread and feed their items to ``consume`` in order of
    arrival; return when all producers are exhausted."""
    items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max_in_flight)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                items.put((kind, value), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def run(produce: Callable[[], Iterator[Any]]) -> None:
        iterator: Iterator[Any] | None = None
        try:
            iterator = produce()
            for item in iterator:
                if not put("item", item):
                    return
        except BaseException as exc:
            put("error", exc)
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:  # the reader is finishing anyway
                    log.debug("Closing a reader failed: %s", exc)
        put("done", None)

    # Each reader runs in a copy of this context: the run's outbound and local-path policies
    # (context variables) hold in the reader threads too.
    threads = [
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(run, p),
            name=f"headwater-reader-{i}",
            daemon=True,
        )
        for i, p in enumerate(producers)
    ]
    for thread in threads:
        thread.start()
    remaining = len(threads)
    try:
        while remaining:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled on request")
            try:
                kind, value = items.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if kind == "item":
                consume(value)
            elif kind == "done":
                remaining -= 1
            else:
                raise value
    except BaseException:
        stop.set()
        try:
            on_abort()
        finally:
            _drain_and_join(items, threads)
        raise
    for thread in threads:
        thread.join(_JOIN_SECONDS)


def _drain_and_join(items: queue.Queue[tuple[str, Any]], threads: list[threading.Thread]) -> None:
    deadline = threading.Event()
    timer = threading.Timer(_JOIN_SECONDS, deadline.set)
    timer.start()
    try:
        while any(t.is_alive() for t in threads) and not deadline.is_set():
            with contextlib.suppress(queue.Empty):
                items.get(timeout=_POLL_SECONDS)
        for thread in threads:
            if thread.is_alive():
                log.warning("Reader thread %s did not stop in time", thread.name)
    finally:
        timer.cancel()
