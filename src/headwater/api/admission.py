"""Admission of requests to the metadata database: never more at once than the pool can serve.

A request's session takes a pooled connection on its first query (in a worker thread, where
FastAPI runs sync dependencies and routes) and holds it until the session closes, after the
route. Between the two it waits for a thread again, still holding the connection. Under more
concurrent requests than connections, the thread pool could fill with requests waiting for a
connection while every connection was held by requests waiting for a thread: the API stopped
answering (150 clients against 30 connections and 40 threads: every request failed after the
pool's 30 s timeout). Requests therefore wait for a slot, in the event loop, holding nothing,
before their session exists; with fewer slots than threads and than connections, an admitted
request always gets both.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

#: Slots when the pool does not bound connections (NullPool, StaticPool): only threads do.
UNBOUNDED_POOL_SLOTS = 32


def slots_for(engine: Engine) -> int:
    """Half the pool's connections: a console page holds its request's session and opens a
    second one (the environment switcher), so a request may hold two connections at once."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return UNBOUNDED_POOL_SLOTS
    capacity = pool.size() + max(int(getattr(pool, "_max_overflow", 0)), 0)
    return max(1, capacity // 2)


class Admission:
    """A semaphore of ``slots`` per event loop (tests drive one app from several loops)."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.slots)
        async with semaphore:
            yield
