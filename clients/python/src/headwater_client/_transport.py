"""HTTP for the operations of ``_ops``: retries, error mapping, and the sync and async drivers.

A 429 (rate limit) or 503 (metadata database unavailable) means the server did not act on the
request, so it is sent again after the ``Retry-After`` the server asks for, else after an
exponential backoff with jitter; a connection that could not be opened is retried the same
way. Any other error status becomes the typed exception of ``errors``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx

from headwater_client._ops import Call, LogParser, Op, Pause
from headwater_client.errors import ApiError, error_for
from headwater_client.models import LogLine

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 503})
USER_AGENT = "headwater-client/0.1"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before sending a refused request again."""

    max_retries: int = 4
    backoff: float = 0.5
    max_wait: float = 60.0

    def wait(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before sending again, or None to stop: the answer is final (not
        429/503) or the retries are spent. ``response`` is None when the connection failed."""
        if attempt >= self.max_retries or (
            response is not None and response.status_code not in RETRY_STATUSES
        ):
            return None
        asked = _retry_after(response.headers.get("retry-after")) if response else None
        if asked is not None:
            return min(asked, self.max_wait)
        jitter = 0.5 + random.random() / 2
        return float(min(self.backoff * 2.0**attempt * jitter, self.max_wait))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` value: delta-seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _decode(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    if "json" in response.headers.get("content-type", ""):
        return response.json()
    return response.text


def _answer(response: httpx.Response) -> Any:
    _raise_for(response)
    return _decode(response)


def _advance(op: Op[T], reply: Any, error: ApiError | None) -> tuple[bool, Any]:
    """The operation's next step ``(True, Call or Pause)``, or ``(False, its result)``."""
    try:
        return True, (op.throw(error) if error is not None else op.send(reply))
    except StopIteration as stop:
        return False, stop.value


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    raise error_for(response.status_code, body, response.text)


def _request_args(call: Call) -> dict[str, Any]:
    args: dict[str, Any] = {"params": call.params}
    if call.json is not None:
        args["json"] = call.json
    return args


def client_options(base_url: str, token: str, timeout: float) -> dict[str, Any]:
    return {
        "base_url": base_url.rstrip("/"),
        "headers": {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT},
        "timeout": timeout,
    }


class SyncDriver:
    """Runs operations with blocking I/O on an ``httpx.Client``."""

    def __init__(self, http: httpx.Client, retry: RetryPolicy) -> None:
        self.http = http
        self.retry = retry

    def send(self, call: Call) -> Any:
        attempt = 0
        while True:
            try:
                response = self.http.request(call.method, call.path, **_request_args(call))
            except httpx.ConnectError:
                if (wait := self.retry.wait(attempt, None)) is None:
                    raise
            else:
                if (wait := self.retry.wait(attempt, response)) is None:
                    return _answer(response)
            time.sleep(wait)
            attempt += 1

    def run(self, op: Op[T]) -> T:
        reply: Any = None
        error: ApiError | None = None
        while True:
            going, step = _advance(op, reply, error)
            if not going:
                return step  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, Pause):
                time.sleep(step.seconds)
                continue
            try:
                reply = self.send(step)
            except ApiError as exc:
                error = exc

    def lines(self, path: str) -> Iterator[LogLine]:
        parser = LogParser()
        with self.http.stream("GET", path) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            for line in response.iter_lines():
                yield from parser.feed(line)


class AsyncDriver:
    """Runs operations with awaits on an ``httpx.AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient, retry: RetryPolicy) -> None:
        self.http = http
        self.retry = retry

    async def send(self, call: Call) -> Any:
        attempt = 0
        while True:
            try:
                response = await self.http.request(call.method, call.path, **_request_args(call))
            except httpx.ConnectError:
                if (wait := self.retry.wait(attempt, None)) is None:
                    raise
            else:
                if (wait := self.retry.wait(attempt, response)) is None:
                    return _answer(response)
            await asyncio.sleep(wait)
            attempt += 1

    async def run(self, op: Op[T]) -> T:
        reply: Any = None
        error: ApiError | None = None
        while True:
            going, step = _advance(op, reply, error)
            if not going:
                return step  # type: ignore[no-any-return]
            reply, error = None, None
            if isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
                continue
            try:
                reply = await self.send(step)
            except ApiError as exc:
                error = exc

    async def lines(self, path: str) -> AsyncIterator[LogLine]:
        parser = LogParser()
        async with self.http.stream("GET", path) as response:
            if response.status_code >= 400:
                await response.aread()
                _raise_for(response)
            async for line in response.aiter_lines():
                for parsed in parser.feed(line):
                    yield parsed
