"""More concurrent requests than metadata connections and threads: every one is answered.

Without admission, requests holding a pooled connection while they wait for a thread (between
the token check and the route) and requests holding every thread while they wait for a
connection deadlock until the pool times out, and every request gets a 500 (seen with 150
clients against 30 connections and 40 threads). Here the pool has 2 connections and the thread
pool 3 threads, against 24 concurrent requests. The Activities route (``ScopedSession``) holds
its connection only inside its one worker thread, so it cannot deadlock even without admission;
the statistics route (``require_scope`` and a sync route) shows that admission is still needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import anyio.to_thread
import httpx
import pytest
from sqlalchemy import Engine, create_engine

from headwater.api.admission import Admission, slots_for
from headwater.services.bootstrap import BootstrapResult

pytestmark = pytest.mark.anyio

CONCURRENT = 24
WINDOW = {"start_time": "2000-01-01T00:00:00", "end_time": "2100-01-01T00:00:00"}


@pytest.fixture
def backend() -> str:
    """PostgreSQL only: a pool of 2 connections is the point (SQLite's pool differs)."""
    return "postgres"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    small = create_engine(db_url, pool_size=2, max_overflow=0, pool_timeout=1)
    yield small
    small.dispose()


@pytest.fixture
async def three_threads() -> AsyncIterator[None]:
    limiter = anyio.to_thread.current_default_thread_limiter()
    before = limiter.total_tokens
    limiter.total_tokens = 3
    yield
    limiter.total_tokens = before


def test_slots_are_half_the_pool(engine: Engine) -> None:
    assert slots_for(engine) == 1
    wide = create_engine("postgresql+psycopg://u@h/d", pool_size=10, max_overflow=20)
    assert slots_for(wide) == 15


async def _burst(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> list[int]:
    statuses: list[int] = []

    async def one() -> None:
        try:
            answer = await client.get(path, params=WINDOW, headers=headers)
        except Exception:  # the test transport raises what the app let out (here: pool timeouts)
            statuses.append(-1)
        else:
            statuses.append(answer.status_code)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for _ in range(CONCURRENT):
                group.start_soon(one)
    return statuses


def _path(bootstrap: BootstrapResult, suffix: str) -> str:
    return f"/v1/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}/{suffix}"


@pytest.mark.parametrize("suffix", ["activities", "activities_statistics"])
async def test_more_requests_than_connections_and_threads_are_all_answered(
    client: httpx.AsyncClient,
    make_token: Callable[..., dict[str, str]],
    bootstrap: BootstrapResult,
    three_threads: None,
    suffix: str,
) -> None:
    headers = make_token()
    assert await _burst(client, _path(bootstrap, suffix), headers) == [200] * CONCURRENT


@pytest.mark.parametrize(
    ("suffix", "deadlocks"),
    [
        # the control: a sync route's burst needs admission (else the test proves nothing)
        ("activities_statistics", True),
        # a ScopedSession route takes its connection in its one worker thread and gives it
        # back before it leaves the thread: it needs none
        ("activities", False),
    ],
)
async def test_without_admission(
    client: httpx.AsyncClient,
    make_token: Callable[..., dict[str, str]],
    bootstrap: BootstrapResult,
    three_threads: None,
    app: object,
    suffix: str,
    deadlocks: bool,
) -> None:
    app.state.db_admission = Admission(CONCURRENT)  # type: ignore[attr-defined]
    statuses = await _burst(client, _path(bootstrap, suffix), make_token())
    if deadlocks:
        assert set(statuses) - {200}, "no request waited out the pool's timeout"
    else:
        assert statuses == [200] * CONCURRENT
