"""The API's answers as typed dataclasses.

Each model names the OpenAPI component it mirrors in ``__schema__``; a test in Headwater's
suite compares every model with the served ``/openapi.json`` (each property present, with a
compatible type and the same optionality), so the client cannot drift from the server. Fields
marked ``client_only`` are added by this client (a run group's runs) and are not on the wire.
Unknown properties of newer servers are kept in ``raw`` rather than refused.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

M = TypeVar("M", bound="Model")
FINAL_STATUSES = frozenset({"succeeded", "failed", "canceled", "skipped", "partially succeeded"})
CLIENT_ONLY = {"client_only": True}


def _parse_datetime(value: str) -> datetime:
    # Python 3.10's fromisoformat does not read a trailing "Z".
    return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return _convert(inner[0], value) if len(inner) == 1 else value
    if origin is list:
        (item,) = get_args(hint)
        return [_convert(item, v) for v in value]
    if hint is datetime:
        return _parse_datetime(value)
    if hint is float:
        return float(value)
    if isinstance(hint, type) and issubclass(hint, Model):
        return hint.from_json(value)
    return value


@dataclass(kw_only=True)
class Model:
    """Base of the API models: built from JSON with ``from_json``."""

    __schema__: ClassVar[str] = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls: type[M], data: dict[str, Any]) -> M:
        hints = get_type_hints(cls, vars(sys.modules[cls.__module__]))
        values = {
            f.name: _convert(hints[f.name], data[f.name])
            for f in dataclasses.fields(cls)
            if f.name != "raw" and f.name in data
        }
        return cls(raw=dict(data), **values)


@dataclass(kw_only=True)
class RiverMetadata(Model):
    __schema__ = "RiverMetadataOut"
    description: str
    river_status: str


@dataclass(kw_only=True)
class River(Model):
    """A stored river; ``properties`` is its definition as the API returns it."""

    __schema__ = "RiverOut"
    cross_id: str
    river_id: str
    name: str
    type: str
    metadata: RiverMetadata
    group_id: str | None
    settings: dict[str, Any]
    schedulers: list[dict[str, Any]]
    notifications: dict[str, Any]
    variables: dict[str, Any]
    properties: dict[str, Any]
    account_id: str
    environment_id: str
    version: int
    created_at: datetime
    updated_at: datetime

    def target_tables(self) -> list[str]:
        """The tables a source-to-target river loads (``details.target_table`` or the source
        table's name), in definition order; empty for logic and action rivers."""
        found: list[str] = []
        for schema in self.properties.get("schemas") or []:
            for table in schema.get("tables") or []:
                details = table.get("details") or {}
                if details.get("is_selected", True) is False:
                    continue
                name = details.get("target_table") or table.get("name")
                if name and name not in found:
                    found.append(str(name))
        return found


@dataclass(kw_only=True)
class Connection(Model):
    """A connection; secret properties come back as ``********``."""

    __schema__ = "ConnectionOut"
    connection_id: str
    cross_id: str
    connection_name: str
    connection_type: str
    properties: dict[str, Any]
    account_id: str
    environment_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(kw_only=True)
class ConnectionTestResult(Model):
    __schema__ = "ConnectionTestResult"
    ok: bool
    message: str | None = None


@dataclass(kw_only=True)
class RunPart(Model):
    """One range of a table whose run was split across Celery workers."""

    __schema__ = "RunPartOut"
    part: int
    lower: int | str | None
    upper: int | str | None
    column: str | None = None
    status: str
    worker: str | None
    rows: int
    attempts: int
    seconds: float | None
    error: str | None


@dataclass(kw_only=True)
class Run(Model):
    """One run: a target table (or sub river) of a run group."""

    __schema__ = "RunOut"
    run_id: str
    run_group_id: str
    river_id: str
    sub_river_id: str | None
    is_sub_river_run: bool
    source_name: str | None
    target_name: str | None
    status: str
    error_description: str | None
    units: float
    total_rows: int
    total_size: int
    start_date_utc: datetime
    end_date_utc: datetime | None
    start_date_in_milliseconds: int
    end_date_in_milliseconds: int
    trigger: str
    #: Change capture runs only: source-to-target lag and WAL the slot retains.
    cdc_lag_seconds: float | None = None
    cdc_lag_bytes: int | None = None
    cdc_retained_bytes: int | None = None
    #: The table's ranges when its run was split across Celery workers (else empty).
    parts: list[RunPart] = field(default_factory=list)


@dataclass(kw_only=True)
class RunGroupSummary(Model):
    """One trigger of a river, as the run-group list shows it."""

    __schema__ = "RunGroupOut"
    run_group_id: str
    status: str
    units: float
    max_duration_in_milliseconds: int
    run_date_epoch_milliseconds: int
    run_date_utc: datetime
    run_end_date_utc: datetime | None
    trigger: str

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(kw_only=True)
class RunGroup(RunGroupSummary):
    """One trigger of a river with its counts per status and, fetched by the client, its runs."""

    __schema__ = "RunGroupDetail"
    river_id: str
    total_runs: int
    running: int
    pending: int
    succeeded: int
    failed: int
    canceled: int
    skipped: int
    total_rows: int
    total_size: int
    runs: list[Run] = field(default_factory=list, metadata=CLIENT_ONLY)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    def errors(self) -> list[str]:
        """``target: error_description`` of each run that did not succeed."""
        return [
            f"{run.target_name or run.sub_river_id or run.run_id}: "
            f"{run.error_description or run.status}"
            for run in self.runs
            if run.status not in ("succeeded", "pending", "running")
        ]


@dataclass(kw_only=True)
class TriggeredRun(Model):
    __schema__ = "TriggeredRun"
    run_id: str
    status: str
    message: str | None
    sub_river_id: str | None


@dataclass(kw_only=True)
class RunTriggered(Model):
    """The answer of ``POST E/rivers/{id}/run``."""

    __schema__ = "RunTriggered"
    river_cross_id: str
    run_group_id: str
    status: str
    runs: list[TriggeredRun]


@dataclass(kw_only=True)
class CancelAnswer(Model):
    __schema__ = "CancelAnswer"
    run_group_id: str
    status: str
    cancel_requested: bool


@dataclass
class LogLine:
    """One line of a run's log (the CSV ``timestamp,level,msg``)."""

    timestamp: str
    level: str
    msg: str


@dataclass(kw_only=True)
class Statistics(Model):
    __schema__ = "Statistics"
    running: int = 0
    pending: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    skipped: int = 0
    total_units: float
    total_rpu: float


@dataclass(kw_only=True)
class LastRun(Model):
    __schema__ = "LastRun"
    run_group_id: str
    status: str
    units: float
    run_date: int
    max_run_duration_milliseconds: int


@dataclass(kw_only=True)
class ActivityRow(Model):
    """One river's runs in a window, rolled up."""

    __schema__ = "ActivityRow"
    river_id: str
    river_name: str | None
    river_type: str | None
    group_id: str | None
    is_scheduled: bool
    succeeded: int
    failed: int
    running: int
    pending: int
    canceled: int
    skipped: int
    units: float
    total_rows: int
    total_size: int
    last_run: int
    max_duration_in_milliseconds: int
    last_runs: list[LastRun] | None = None


@dataclass(kw_only=True)
class Target(Model):
    __schema__ = "TargetOut"
    target_name: str
    status: str
    units: float
    last_run: int
    total_rows: int


@dataclass(kw_only=True)
class SubRiver(Model):
    __schema__ = "SubRiverOut"
    sub_river_id: str
    sub_river_name: str | None
    status: str
    units: float
    last_run: int


@dataclass(kw_only=True)
class TokenCreator(Model):
    __schema__ = "TokenCreator"
    user_id: str
    email: str
    name: str


@dataclass(kw_only=True)
class ApiToken(Model):
    """An API token as admins see it: never its secret."""

    __schema__ = "ApiTokenOut"
    id: str
    name: str
    scopes: list[str]
    environment_ids: list[str] | None
    display_prefix: str
    created_at: datetime
    created_by: str | None
    creator: TokenCreator | None
    last_used_at: datetime | None
    expires_at: datetime | None


@dataclass(kw_only=True)
class CreatedToken(ApiToken):
    """A new token: ``token`` is its secret, shown this once."""

    __schema__ = "ApiTokenCreated"
    token: str = field(repr=False)


@dataclass(kw_only=True)
class Me(Model):
    """Who the token is (``GET /api/me``)."""

    __schema__ = "MeOut"
    account_id: str
    account_name: str
    environment_id: str
    environment_name: str
    environment_ids: list[str]
    token_id: str | None
    token_name: str | None
    user_id: str | None
    scopes: list[str]
    plan: str


#: Every model checked against the OpenAPI document.
MODELS: tuple[type[Model], ...] = (
    RiverMetadata,
    River,
    Connection,
    ConnectionTestResult,
    Run,
    RunPart,
    RunGroupSummary,
    RunGroup,
    TriggeredRun,
    RunTriggered,
    CancelAnswer,
    Statistics,
    LastRun,
    ActivityRow,
    Target,
    SubRiver,
    TokenCreator,
    ApiToken,
    CreatedToken,
    Me,
)
