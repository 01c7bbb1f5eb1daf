"""Every operation of the client, written once for the sync and the async client.

An operation is a generator: it yields a ``Call`` (an HTTP request) or a ``Pause`` (a sleep)
and receives the decoded answer, so its logic (resolving a river by name, following pages,
polling a run group until it ends) runs unchanged on ``Client`` (blocking I/O) and
``AsyncClient`` (awaits). ``_transport`` drives the generators; an error answer is thrown into
the generator as the typed exception, which an operation may catch (a 404 on an id that may be
a name).
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from headwater_client.errors import NotFound, RunFailed, WaitTimeout
from headwater_client.models import (
    FINAL_STATUSES,
    ActivityRow,
    ApiToken,
    CancelAnswer,
    Connection,
    ConnectionTestResult,
    CreatedToken,
    LogLine,
    Me,
    Model,
    River,
    Run,
    RunGroup,
    RunGroupSummary,
    RunTriggered,
    Statistics,
    SubRiver,
    Target,
)

T = TypeVar("T")
M = TypeVar("M", bound=Model)
_RIVER_ID = re.compile(r"^[0-9a-f]{24}$")
Params = Mapping[str, Any]
TimeArg = datetime | str | None


@dataclass(frozen=True)
class Call:
    """One request; ``path`` is absolute (``/v1/...``)."""

    method: str
    path: str
    params: Params | None = None
    json: Any = None


@dataclass(frozen=True)
class Pause:
    seconds: float


Op = Generator[Call | Pause, Any, T]


def iso(value: TimeArg) -> str | None:
    """A time parameter as the API reads it (naive datetimes are UTC)."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters without the ``None`` ones; booleans as ``true``/``false``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


class LogParser:
    """Turns streamed CSV text lines into ``LogLine``s; a message may span lines (quoted)."""

    def __init__(self) -> None:
        self._pending = ""
        self._header = True

    def feed(self, line: str) -> list[LogLine]:
        self._pending += line + "\n"
        if self._pending.count('"') % 2:
            return []  # inside a quoted field that goes on past this line
        text, self._pending = self._pending, ""
        out = []
        for row in csv.reader(io.StringIO(text)):
            if not row:
                continue
            if self._header:
                self._header = False
                if row[:3] == ["timestamp", "level", "msg"]:
                    continue
            out.append(LogLine(*[*row, "", "", ""][:3]))
        return out


@dataclass
class Ops:
    """The operations of one client: where the account and environment are, once known."""

    account_id: str | None = None
    environment_id: str | None = None
    _me: Me | None = field(default=None, repr=False)

    # -- who, where -----------------------------------------------------------------------

    def me(self) -> Op[Me]:
        data = yield Call("GET", "/api/me")
        return Me.from_json(data)

    def env(self) -> Op[str]:
        """``/v1/accounts/A/environments/E``; asks ``/api/me`` once when not given."""
        if self.account_id is None or self.environment_id is None:
            me = yield from self.me()
            self.account_id = self.account_id or me.account_id
            self.environment_id = self.environment_id or me.environment_id
        return f"/v1/accounts/{self.account_id}/environments/{self.environment_id}"

    def account(self) -> Op[str]:
        yield from self.env()
        return f"/v1/accounts/{self.account_id}"

    def pages(self, call: Call, model: type[M], limit: int | None = None) -> Op[list[M]]:
        """Every item of a paged list (following ``next_page``), up to ``limit``."""
        items: list[M] = []
        page = 1
        while True:
            data = yield Call(call.method, call.path, {**(call.params or {}), "page": page})
            items += [model.from_json(item) for item in data["items"]]
            if limit is not None and len(items) >= limit:
                return items[:limit]
            if not data.get("next_page") or not data["items"]:
                return items
            page += 1

    # -- rivers ---------------------------------------------------------------------------

    def river_path(self, river: str) -> Op[str]:
        """``E/rivers/{id}`` of a river given by id or by exact name."""
        river_id = yield from self.river_id(river)
        prefix = yield from self.env()
        return f"{prefix}/rivers/{river_id}"

    def river_id(self, river: str) -> Op[str]:
        if _RIVER_ID.match(river):
            return river
        found = yield from self.find_river(river)
        return found.river_id

    def find_river(self, name: str) -> Op[River]:
        prefix = yield from self.env()
        call = Call("GET", f"{prefix}/rivers", {"name": name, "items_per_page": 200})
        candidates = yield from self.pages(call, River)
        exact = [r for r in candidates if r.name == name] or [
            r for r in candidates if r.name.casefold() == name.casefold()
        ]
        if len(exact) != 1:
            reason = "no river" if not exact else f"{len(exact)} rivers"
            raise NotFound(404, f"{reason} named {name!r} in this environment")
        return exact[0]

    def get_river(self, river: str) -> Op[River]:
        if not _RIVER_ID.match(river):
            found = yield from self.find_river(river)
            return found
        prefix = yield from self.env()
        try:
            data = yield Call("GET", f"{prefix}/rivers/{river}")
        except NotFound:
            found = yield from self.find_river(river)  # a river may be named like an id
            return found
        return River.from_json(data)

    def list_rivers(self, **filters: Any) -> Op[list[River]]:
        prefix = yield from self.env()
        limit = filters.pop("limit", None)
        call = Call("GET", f"{prefix}/rivers", clean(filters))
        rivers = yield from self.pages(call, River, limit)
        return rivers

    def create_river(self, body: Mapping[str, Any]) -> Op[River]:
        prefix = yield from self.env()
        data = yield Call("POST", f"{prefix}/rivers", json=dict(body))
        return River.from_json(data)

    def update_river(self, river: str, body: Mapping[str, Any]) -> Op[River]:
        path = yield from self.river_path(river)
        data = yield Call("PUT", path, json=dict(body))
        return River.from_json(data)

    def delete_river(self, river: str) -> Op[None]:
        path = yield from self.river_path(river)
        yield Call("DELETE", path)

    def set_river_status(self, river: str, active: bool) -> Op[River]:
        path = yield from self.river_path(river)
        data = yield Call("POST", f"{path}/{'activate_river' if active else 'disable_river'}")
        return River.from_json(data)

    def trigger(self, river: str, variables: Mapping[str, Any] | None) -> Op[RunTriggered]:
        path = yield from self.river_path(river)
        body = {"variables": dict(variables)} if variables else None
        data = yield Call("POST", f"{path}/run", json=body)
        return RunTriggered.from_json(data)

    def run_river(
        self,
        river: str,
        variables: Mapping[str, Any] | None,
        wait: bool,
        timeout: float | None,
        poll_interval: float,
        raise_on_failure: bool,
    ) -> Op[RunGroup]:
        river_id = yield from self.river_id(river)
        triggered = yield from self.trigger(river_id, variables)
        if wait:
            group = yield from self.wait(
                river_id, triggered.run_group_id, timeout, poll_interval, raise_on_failure
            )
        else:
            group = yield from self.run_group(river_id, triggered.run_group_id)
        return group

    def cancel(self, river: str, run_group_id: str | None, run_id: str | None) -> Op[CancelAnswer]:
        path = yield from self.river_path(river)
        body = clean({"run_group_id": run_group_id, "run_id": run_id})
        data = yield Call("POST", f"{path}/cancel_run", json=body)
        return CancelAnswer.from_json(data)

    def river_variables(self, river: str, values: Mapping[str, Any] | None) -> Op[dict[str, Any]]:
        path = yield from self.river_path(river)
        if values is None:
            data = yield Call("GET", f"{path}/variables")
        else:
            data = yield Call("PUT", f"{path}/variables", json={"variables": dict(values)})
        return dict(data["variables"])

    # -- run groups and runs --------------------------------------------------------------

    def run_group(self, river: str, run_group_id: str) -> Op[RunGroup]:
        """The run group with its runs (those triggered in its window, of this group)."""
        path = yield from self.river_path(river)
        data = yield Call("GET", f"{path}/activities_run_groups/{run_group_id}")
        group = RunGroup.from_json(data)
        started = group.run_date_utc or datetime.now(UTC)
        window = {
            "start_time": iso(started - timedelta(seconds=1)),
            "end_time": iso(datetime.now(UTC) + timedelta(days=1)),
            "scheduler_id": run_group_id,
            "items_per_page": 200,
            "sort_order": "asc",
        }
        group.runs = yield from self.pages(Call("GET", f"{path}/runs", window), Run)
        return group

    def wait(
        self,
        river: str,
        run_group_id: str,
        timeout: float | None,
        poll_interval: float,
        raise_on_failure: bool,
    ) -> Op[RunGroup]:
        """Poll the run group every ``poll_interval`` s until it ends (or ``timeout`` s)."""
        river_id = yield from self.river_id(river)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            group = yield from self.run_group(river_id, run_group_id)
            if group.status in FINAL_STATUSES:
                if raise_on_failure and not group.ok:
                    raise RunFailed(group)
                return group
            if deadline is not None and time.monotonic() + poll_interval > deadline:
                raise WaitTimeout(group, timeout or 0.0)
            yield Pause(poll_interval)

    def run_groups(
        self, river: str, start: TimeArg, end: TimeArg, **filters: Any
    ) -> Op[list[RunGroupSummary]]:
        path = yield from self.river_path(river)
        params = clean({"start_time": iso(start), "end_time": iso(end), **filters})
        found = yield from self.pages(
            Call("GET", f"{path}/activities_run_groups", params), RunGroupSummary
        )
        return found

    def get_run(self, river: str, run_id: str) -> Op[Run]:
        path = yield from self.river_path(river)
        data = yield Call("GET", f"{path}/runs/{run_id}")
        return Run.from_json(data)

    def list_runs(self, river: str, start: TimeArg, end: TimeArg, **filters: Any) -> Op[list[Run]]:
        path = yield from self.river_path(river)
        params = clean({"start_time": iso(start), "end_time": iso(end), **filters})
        found = yield from self.pages(Call("GET", f"{path}/runs", params), Run)
        return found

    # -- activities -----------------------------------------------------------------------

    def statistics(
        self, start: TimeArg, end: TimeArg, river: str | None, **filters: Any
    ) -> Op[Statistics]:
        if river is None:
            base = yield from self.env()
        else:
            base = yield from self.river_path(river)
        params = clean({"start_time": iso(start), "end_time": iso(end), **filters})
        data = yield Call("GET", f"{base}/activities_statistics", params)
        return Statistics.from_json(data)

    def activities(self, start: TimeArg, end: TimeArg, **filters: Any) -> Op[list[ActivityRow]]:
        prefix = yield from self.env()
        params = clean({"start_time": iso(start), "end_time": iso(end), **filters})
        found = yield from self.pages(Call("GET", f"{prefix}/activities", params), ActivityRow)
        return found

    def targets(self, river: str, start: TimeArg, end: TimeArg, **filters: Any) -> Op[list[Target]]:
        path = yield from self.river_path(river)
        params = clean({"start_time": iso(start), "end_time": iso(end), **filters})
        data = yield Call("GET", f"{path}/activities_targets", params)
        return [Target.from_json(item) for item in data["items"]]

    def sub_rivers(
        self, river: str, start: TimeArg, end: TimeArg, **filters: Any
    ) -> Op[list[SubRiver]]:
        path = yield from self.river_path(river)
        params = clean({"start_time": iso(start), "end_time": iso(end), **filters})
        data = yield Call("GET", f"{path}/activities_sub_rivers", params)
        return [SubRiver.from_json(item) for item in data["items"]]

    # -- connections ----------------------------------------------------------------------

    def connection_id(self, connection: str) -> Op[str]:
        if _RIVER_ID.match(connection):
            return connection
        found = yield from self.list_connections()
        named = [c for c in found if c.connection_name == connection]
        if not named:
            raise NotFound(404, f"no connection named {connection!r} in this environment")
        return named[0].connection_id

    def list_connections(self) -> Op[list[Connection]]:
        prefix = yield from self.env()
        data = yield Call("GET", f"{prefix}/connections")
        return [Connection.from_json(item) for item in data["items"]]

    def connection_call(
        self, method: str, connection: str | None, suffix: str = "", json: Any = None
    ) -> Op[Any]:
        prefix = yield from self.env()
        path = f"{prefix}/connections"
        if connection is not None:
            connection_id = yield from self.connection_id(connection)
            path += f"/{connection_id}{suffix}"
        data = yield Call(method, path, json=json)
        return data

    def get_connection(self, connection: str) -> Op[Connection]:
        data = yield from self.connection_call("GET", connection)
        return Connection.from_json(data)

    def save_connection(self, connection: str | None, body: Mapping[str, Any]) -> Op[Connection]:
        data = yield from self.connection_call(
            "POST" if connection is None else "PUT", connection, json=dict(body)
        )
        return Connection.from_json(data)

    def delete_connection(self, connection: str) -> Op[None]:
        yield from self.connection_call("DELETE", connection)

    def test_connection(self, connection: str) -> Op[ConnectionTestResult]:
        data = yield from self.connection_call("POST", connection, "/test")
        return ConnectionTestResult.from_json(data)

    def connection_types(self) -> Op[list[dict[str, Any]]]:
        data = yield Call("GET", "/v1/connections_types")
        return list(data["items"])

    # -- tokens (admins) ------------------------------------------------------------------

    def list_tokens(self) -> Op[list[ApiToken]]:
        base = yield from self.account()
        data = yield Call("GET", f"{base}/api_tokens")
        return [ApiToken.from_json(item) for item in data["items"]]

    def get_token(self, token_id: str) -> Op[ApiToken]:
        base = yield from self.account()
        data = yield Call("GET", f"{base}/api_tokens/{quote(token_id, safe='')}")
        return ApiToken.from_json(data)

    def create_token(
        self, name: str, scopes: Iterable[str], environment_ids: Iterable[str] | None
    ) -> Op[CreatedToken]:
        base = yield from self.account()
        body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
        if environment_ids is not None:
            body["environment_ids"] = list(environment_ids)
        data = yield Call("POST", f"{base}/api_tokens", json=body)
        return CreatedToken.from_json(data)

    def delete_token(self, token_id: str) -> Op[None]:
        base = yield from self.account()
        yield Call("DELETE", f"{base}/api_tokens/{quote(token_id, safe='')}")


def parse_yaml(text: str) -> dict[str, Any]:
    """A river body from YAML (needs PyYAML: ``pip install 'headwater-client[yaml]'``)."""
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading YAML needs PyYAML: pip install 'headwater-client[yaml]'"
        ) from exc
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError("a river's YAML must be a mapping (the API's river body)")
    return document
