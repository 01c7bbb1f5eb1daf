"""``AsyncClient``: the blocking client's resources and methods, awaited.

The logic of each method lives once in ``_ops``; these classes give it an async signature and
run it on the asyncio driver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from headwater_client._ops import Ops, TimeArg
from headwater_client._transport import AsyncDriver, RetryPolicy, client_options
from headwater_client.client import DEFAULT_POLL, _Base, _yaml_body
from headwater_client.models import (
    ActivityRow,
    ApiToken,
    CancelAnswer,
    Connection,
    ConnectionTestResult,
    CreatedToken,
    LogLine,
    Me,
    River,
    Run,
    RunGroup,
    RunGroupSummary,
    Statistics,
    SubRiver,
    Target,
)


class AsyncRivers(_Base[AsyncDriver]):
    async def list(
        self,
        *,
        name: str | None = None,
        group_id: str | None = None,
        river_type: str | None = None,
        limit: int | None = None,
        page_size: int = 200,
    ) -> list[River]:
        return await self._driver.run(
            self._ops.list_rivers(
                name=name,
                group_id=group_id,
                river_type=river_type,
                limit=limit,
                items_per_page=page_size,
            )
        )

    async def get(self, river: str) -> River:
        return await self._driver.run(self._ops.get_river(river))

    async def create(self, body: Mapping[str, Any]) -> River:
        return await self._driver.run(self._ops.create_river(body))

    async def create_from_yaml(self, source: str | Path) -> River:
        return await self.create(_yaml_body(source))

    async def update(self, river: str, body: Mapping[str, Any]) -> River:
        return await self._driver.run(self._ops.update_river(river, body))

    async def update_from_yaml(self, river: str, source: str | Path) -> River:
        return await self.update(river, _yaml_body(source))

    async def delete(self, river: str) -> None:
        await self._driver.run(self._ops.delete_river(river))

    async def activate(self, river: str) -> River:
        return await self._driver.run(self._ops.set_river_status(river, True))

    async def disable(self, river: str) -> River:
        return await self._driver.run(self._ops.set_river_status(river, False))

    async def variables(
        self, river: str, values: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        return await self._driver.run(self._ops.river_variables(river, values))

    async def run(
        self,
        river: str,
        *,
        variables: Mapping[str, Any] | None = None,
        wait: bool = False,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL,
        raise_on_failure: bool = False,
    ) -> RunGroup:
        op = self._ops.run_river(river, variables, wait, timeout, poll_interval, raise_on_failure)
        return await self._driver.run(op)

    async def cancel(
        self, river: str, *, run_group_id: str | None = None, run_id: str | None = None
    ) -> CancelAnswer:
        return await self._driver.run(self._ops.cancel(river, run_group_id, run_id))


class AsyncRunGroups(_Base[AsyncDriver]):
    async def get(self, river: str, run_group_id: str) -> RunGroup:
        return await self._driver.run(self._ops.run_group(river, run_group_id))

    async def wait(
        self,
        river: str,
        run_group_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL,
        raise_on_failure: bool = False,
    ) -> RunGroup:
        op = self._ops.wait(river, run_group_id, timeout, poll_interval, raise_on_failure)
        return await self._driver.run(op)

    async def list(
        self, river: str, start_time: TimeArg, end_time: TimeArg, **filters: Any
    ) -> list[RunGroupSummary]:
        op = self._ops.run_groups(river, start_time, end_time, **filters)
        return await self._driver.run(op)


class AsyncRuns(_Base[AsyncDriver]):
    async def get(self, river: str, run_id: str) -> Run:
        return await self._driver.run(self._ops.get_run(river, run_id))

    async def list(
        self, river: str, start_time: TimeArg, end_time: TimeArg, **filters: Any
    ) -> list[Run]:
        return await self._driver.run(self._ops.list_runs(river, start_time, end_time, **filters))

    async def logs(self, river: str, run_id: str) -> AsyncIterator[LogLine]:
        path = await self._driver.run(self._ops.river_path(river))
        async for line in self._driver.lines(f"{path}/runs/{run_id}/logs"):
            yield line


class AsyncActivities(_Base[AsyncDriver]):
    async def statistics(
        self, start_time: TimeArg, end_time: TimeArg, *, river: str | None = None, **filters: Any
    ) -> Statistics:
        op = self._ops.statistics(start_time, end_time, river, **filters)
        return await self._driver.run(op)

    async def rivers(
        self, start_time: TimeArg, end_time: TimeArg, **filters: Any
    ) -> list[ActivityRow]:
        return await self._driver.run(self._ops.activities(start_time, end_time, **filters))

    async def targets(
        self, river: str, start_time: TimeArg, end_time: TimeArg, **filters: Any
    ) -> list[Target]:
        return await self._driver.run(self._ops.targets(river, start_time, end_time, **filters))

    async def sub_rivers(
        self, river: str, start_time: TimeArg, end_time: TimeArg, **filters: Any
    ) -> list[SubRiver]:
        op = self._ops.sub_rivers(river, start_time, end_time, **filters)
        return await self._driver.run(op)


class AsyncConnections(_Base[AsyncDriver]):
    async def types(self) -> list[dict[str, Any]]:
        return await self._driver.run(self._ops.connection_types())

    async def list(self) -> list[Connection]:
        return await self._driver.run(self._ops.list_connections())

    async def get(self, connection: str) -> Connection:
        return await self._driver.run(self._ops.get_connection(connection))

    async def create(self, body: Mapping[str, Any]) -> Connection:
        return await self._driver.run(self._ops.save_connection(None, body))

    async def update(self, connection: str, body: Mapping[str, Any]) -> Connection:
        return await self._driver.run(self._ops.save_connection(connection, body))

    async def delete(self, connection: str) -> None:
        await self._driver.run(self._ops.delete_connection(connection))

    async def test(self, connection: str) -> ConnectionTestResult:
        return await self._driver.run(self._ops.test_connection(connection))


class AsyncTokens(_Base[AsyncDriver]):
    async def list(self) -> list[ApiToken]:
        return await self._driver.run(self._ops.list_tokens())

    async def get(self, token_id: str) -> ApiToken:
        return await self._driver.run(self._ops.get_token(token_id))

    async def create(
        self, name: str, scopes: Iterable[str], *, environment_ids: Iterable[str] | None = None
    ) -> CreatedToken:
        return await self._driver.run(self._ops.create_token(name, scopes, environment_ids))

    async def delete(self, token_id: str) -> None:
        await self._driver.run(self._ops.delete_token(token_id))


class AsyncClient:
    """The asyncio client: the blocking client's resources, awaited (``async with``)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        account_id: str | None = None,
        environment_id: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http_client or httpx.AsyncClient(**client_options(base_url, token, timeout))
        self._ops = Ops(account_id, environment_id)
        driver = AsyncDriver(self.http, retry or RetryPolicy())
        self.rivers = AsyncRivers(self._ops, driver)
        self.run_groups = AsyncRunGroups(self._ops, driver)
        self.runs = AsyncRuns(self._ops, driver)
        self.activities = AsyncActivities(self._ops, driver)
        self.connections = AsyncConnections(self._ops, driver)
        self.tokens = AsyncTokens(self._ops, driver)
        self._driver = driver

    async def me(self) -> Me:
        return await self._driver.run(self._ops.me())

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
