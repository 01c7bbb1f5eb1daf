"""``Client``: the blocking client (``async_client.AsyncClient`` has the same resources).

Rivers and connections are named by id or by exact name wherever a method takes ``river`` or
``connection``. Lists follow every page. The logic of each method lives once in ``_ops``; the
classes here only give it a typed signature and run it on their driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from headwater_client._ops import Ops, TimeArg, parse_yaml
from headwater_client._transport import AsyncDriver, RetryPolicy, SyncDriver, client_options
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

DEFAULT_POLL = 2.0


def _yaml_body(source: str | Path) -> dict[str, Any]:
    text = source.read_text() if isinstance(source, Path) else source
    return parse_yaml(text)


D = TypeVar("D", bound="SyncDriver | AsyncDriver")


class _Base(Generic[D]):
    def __init__(self, ops: Ops, driver: D) -> None:
        self._ops = ops
        self._driver: D = driver


# ---------------------------------------------------------------------------------------------
# blocking


class Rivers(_Base[SyncDriver]):
    """``client.rivers``: definitions, runs, cancel."""

    def list(
        self,
        *,
        name: str | None = None,
        group_id: str | None = None,
        river_type: str | None = None,
        limit: int | None = None,
        page_size: int = 200,
    ) -> list[River]:
        """Every river (all pages); ``name`` filters on "contains", any case."""
        return self._driver.run(
            self._ops.list_rivers(
                name=name,
                group_id=group_id,
                river_type=river_type,
                limit=limit,
                items_per_page=page_size,
            )
        )

    def get(self, river: str) -> River:
        return self._driver.run(self._ops.get_river(river))

    def create(self, body: Mapping[str, Any]) -> River:
        return self._driver.run(self._ops.create_river(body))

    def create_from_yaml(self, source: str | Path) -> River:
        """Create from YAML text or a ``Path`` to a YAML file (the API's river body)."""
        return self.create(_yaml_body(source))

    def update(self, river: str, body: Mapping[str, Any]) -> River:
        """Replace the river's definition (a new version)."""
        return self._driver.run(self._ops.update_river(river, body))

    def update_from_yaml(self, river: str, source: str | Path) -> River:
        return self.update(river, _yaml_body(source))

    def delete(self, river: str) -> None:
        self._driver.run(self._ops.delete_river(river))

    def activate(self, river: str) -> River:
        return self._driver.run(self._ops.set_river_status(river, True))

    def disable(self, river: str) -> River:
        return self._driver.run(self._ops.set_river_status(river, False))

    def variables(self, river: str, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The river's variables; with ``values``, replace them first."""
        return self._driver.run(self._ops.river_variables(river, values))

    def run(
        self,
        river: str,
        *,
        variables: Mapping[str, Any] | None = None,
        wait: bool = False,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL,
        raise_on_failure: bool = False,
    ) -> RunGroup:
        """Trigger a run group (``variables`` are run parameters); with ``wait``, poll until it
        ends and return it finished (``raise_on_failure``: raise ``RunFailed`` unless it
        succeeded; past ``timeout`` s raise ``WaitTimeout``)."""
        op = self._ops.run_river(river, variables, wait, timeout, poll_interval, raise_on_failure)
        return self._driver.run(op)

    def cancel(
        self, river: str, *, run_group_id: str | None = None, run_id: str | None = None
    ) -> CancelAnswer:
        return self._driver.run(self._ops.cancel(river, run_group_id, run_id))


class RunGroups(_Base[SyncDriver]):
    """``client.run_groups``: one trigger of a river and its runs."""

    def get(self, river: str, run_group_id: str) -> RunGroup:
        return self._driver.run(self._ops.run_group(river, run_group_id))

    def wait(
        self,
        river: str,
        run_group_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL,
        raise_on_failure: bool = False,
    ) -> RunGroup:
        op = self._ops.wait(river, run_group_id, timeout, poll_interval, raise_on_failure)
        return self._driver.run(op)

    def list(
        self, river: str, start_time: TimeArg, end_time: TimeArg, **filters: Any
    ) -> list[RunGroupSummary]:
        op = self._ops.run_groups(river, start_time, end_time, **filters)
        return self._driver.run(op)


class Runs(_Base[SyncDriver]):
    """``client.runs``: one run, a river's runs in a window, a run's log."""

    def get(self, river: str, run_id: str) -> Run:
        return self._driver.run(self._ops.get_run(river, run_id))

    def list(self, river: str, start_time: TimeArg, end_time: TimeArg, **filters: Any) -> list[Run]:
        return self._driver.run(self._ops.list_runs(river, start_time, end_time, **filters))

    def logs(self, river: str, run_id: str) -> Iterator[LogLine]:
        """The run's log, streamed line by line."""
        path = self._driver.run(self._ops.river_path(river))
        return self._driver.lines(f"{path}/runs/{run_id}/logs")


class Activities(_Base[SyncDriver]):
    """``client.activities``: the Activities API (times are datetimes or API strings)."""

    def statistics(
        self, start_time: TimeArg, end_time: TimeArg, *, river: str | None = None, **filters: Any
    ) -> Statistics:
        op = self._ops.statistics(start_time, end_time, river, **filters)
        return self._driver.run(op)

    def rivers(self, start_time: TimeArg, end_time: TimeArg, **filters: Any) -> list[ActivityRow]:
        return self._driver.run(self._ops.activities(start_time, end_time, **filters))

    def targets(
        self, river: str, start_time: TimeArg, end_time: TimeArg, **filters: Any
    ) -> list[Target]:
        return self._driver.run(self._ops.targets(river, start_time, end_time, **filters))

    def sub_rivers(
        self, river: str, start_time: TimeArg, end_time: TimeArg, **filters: Any
    ) -> list[SubRiver]:
        return self._driver.run(self._ops.sub_rivers(river, start_time, end_time, **filters))


class Connections(_Base[SyncDriver]):
    """``client.connections``; secrets are write-only (answers mask them)."""

    def types(self) -> list[dict[str, Any]]:
        return self._driver.run(self._ops.connection_types())

    def list(self) -> list[Connection]:
        return self._driver.run(self._ops.list_connections())

    def get(self, connection: str) -> Connection:
        return self._driver.run(self._ops.get_connection(connection))

    def create(self, body: Mapping[str, Any]) -> Connection:
        return self._driver.run(self._ops.save_connection(None, body))

    def update(self, connection: str, body: Mapping[str, Any]) -> Connection:
        return self._driver.run(self._ops.save_connection(connection, body))

    def delete(self, connection: str) -> None:
        self._driver.run(self._ops.delete_connection(connection))

    def test(self, connection: str) -> ConnectionTestResult:
        return self._driver.run(self._ops.test_connection(connection))


class Tokens(_Base[SyncDriver]):
    """``client.tokens``: the account's API tokens (admins; scopes token:list/token:edit)."""

    def list(self) -> list[ApiToken]:
        return self._driver.run(self._ops.list_tokens())

    def get(self, token_id: str) -> ApiToken:
        return self._driver.run(self._ops.get_token(token_id))

    def create(
        self, name: str, scopes: Iterable[str], *, environment_ids: Iterable[str] | None = None
    ) -> CreatedToken:
        return self._driver.run(self._ops.create_token(name, scopes, environment_ids))

    def delete(self, token_id: str) -> None:
        self._driver.run(self._ops.delete_token(token_id))


class Client:
    """The blocking client: ``Client(base_url=..., token=...)``, best used as a context manager.

    ``account_id`` and ``environment_id`` default to the token's (asked once from
    ``/api/me``, which needs the ``me:list`` scope); pass them to skip that call.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        account_id: str | None = None,
        environment_id: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.http = http_client or httpx.Client(**client_options(base_url, token, timeout))
        self._ops = Ops(account_id, environment_id)
        driver = SyncDriver(self.http, retry or RetryPolicy())
        self.rivers = Rivers(self._ops, driver)
        self.run_groups = RunGroups(self._ops, driver)
        self.runs = Runs(self._ops, driver)
        self.activities = Activities(self._ops, driver)
        self.connections = Connections(self._ops, driver)
        self.tokens = Tokens(self._ops, driver)
        self._driver = driver

    def me(self) -> Me:
        return self._driver.run(self._ops.me())

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
