"""Action rivers: one HTTP request whose response sets variables and/or loads a table.

``run_action`` is shared by the actions handler (an action river run on its own) and by
logic ``action`` steps. Loading goes through the engine like any other copy: the response's
records become an Arrow table served by an in-memory source connector (``RecordsSource``),
so the target gets the same atomic load, schema drift handling and type mapping as a
database source. Action runs are metered per execution and target table
(``engine.metering.compute_api_units``), not by bytes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from headwater.connectors.base import (
    Capabilities,
    Column,
    ConnectorSpec,
    PropertySpec,
    ReadRequest,
    Source,
    Table,
    TableRef,
)
from headwater.connectors.registry import Registry, default_registry
from headwater.engine.jobs import TableJob
from headwater.engine.metering import DEFAULT_POLICY, MeteringPolicy, compute_api_units
from headwater.engine.pipeline import run_table_job
from headwater.runner.context import RunnerContext
from headwater.runner.contracts import Outcome, PreparedRiver, RunJob
from headwater.runner.http_request import json_path, perform, records_at
from headwater.runner.river_plans import ConnectionConfig, RunPlan, load_plan
from headwater.runner.run_records import SecretLog, save_variables
from headwater.runner.variables import Scope, plain
from headwater.schemas.rivers_actions import ActionsRiver
from headwater.security.crypto import MASK, SecretBox
from headwater.store.models.runs import RunGroup

RECORDS_CONNECTOR = "headwater_http_records"
RECORDS_TABLE = "records"
Log = Callable[[str, str], None]


# -- the in-memory source of response records --------------------------------------------------


def records_spec() -> ConnectorSpec:
    return ConnectorSpec(
        name=RECORDS_CONNECTOR,
        title="HTTP response records",
        description="The records of an action's response, held in memory for one load.",
        properties=(PropertySpec("table", "string", required=True),),
        capabilities=Capabilities(transactional=False, schemas=False, type_dialect="arrow"),
        source_class="headwater.runner.actions:RecordsSource",
    )


@lru_cache(maxsize=1)
def action_registry() -> Registry:
    """The process-wide connectors plus the in-memory records source of action responses."""
    registry = Registry(default_registry().specs())
    registry.register(records_spec())
    return registry


def _column(name: str, values: list[Any]) -> tuple[Column, pa.Array]:
    """An Arrow column for one field; nested values become JSON, mixed types text."""
    if any(isinstance(v, dict | list) for v in values):
        texts = [None if v is None else json.dumps(v) for v in values]
        return Column(name, "json", pa.string(), semantic="json"), pa.array(texts, pa.string())
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        array = pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_null(array.type):
        array = pa.array(values, pa.string())
    return Column(name, str(array.type), array.type), array


def records_table(records: list[Any]) -> tuple[tuple[Column, ...], pa.Table]:
    """Columns (union of the records' keys, first seen first) and the rows as Arrow."""
    rows = [r if isinstance(r, dict) else {"value": r} for r in records]
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(str(k) for k in row))
    built = [_column(name, [plain(row.get(name)) for row in rows]) for name in names]
    columns = tuple(column for column, _ in built)
    table = pa.Table.from_arrays([array for _, array in built], names=[c.name for c in columns])
    return columns, table


class RecordsSource(Source):
    """A source over one in-memory Arrow table (``props['table']``: ``(columns, table)``)."""

    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self.columns, self.table = props["table"]

    def test(self) -> None:
        return None

    def _table(self) -> Table:
        return Table(TableRef(RECORDS_TABLE), self.columns)

    def discover(self, schema: str | None = None) -> list[Table]:
        return [self._table()]

    def describe(self, ref: TableRef) -> Table:
        return self._table()

    def describe_query(self, query: str) -> tuple[Column, ...]:
        return tuple(self.columns)

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        names = [c.name for c in request.columns]
        yield from self.table.select(names).to_batches(max_chunksize=10_000)


# -- one execution -----------------------------------------------------------------------------


@dataclass
class ActionResult:
    variables: dict[str, Any] = field(default_factory=dict)
    http_status: int = 0
    pages: int = 0
    calls: int = 0
    rows: int = 0
    size: int = 0
    units: Decimal = Decimal(0)
    target: str | None = None


def _variable_value(path: str, pages: list[Any]) -> Any:
    found = [value for page in pages for value in json_path(path, page)]
    if not found:
        return None
    return found[0] if len(found) == 1 else [plain(v) for v in found]


def run_action(
    model: ActionsRiver,
    target: ConnectionConfig | None,
    scope: Scope,
    *,
    cancel: threading.Event,
    log: Log,
    load_id: str,
    on_secret: Callable[[str], None] | None = None,
    metering: MeteringPolicy = DEFAULT_POLICY,
) -> ActionResult:
    """Make the request, set response variables in ``scope``, load the target table."""
    props = model.properties
    target_def = props.response.target
    records_path = target_def.records_path if target_def is not None else "$"
    outcome = perform(
        props, scope, cancel=cancel, log=log, records_path=records_path, on_secret=on_secret
    )
    result = ActionResult(http_status=outcome.status, pages=len(outcome.pages), calls=outcome.calls)
    for variable in props.response.variables:
        value = plain(_variable_value(variable.path, outcome.pages))
        if value is None:
            log("WARNING", f"response variable {variable.name}: {variable.path} matched nothing")
        scope.set(variable.name, value)
        result.variables[variable.name] = value
    if target_def is not None and target is not None:
        records = [r for page in outcome.pages for r in records_at(records_path, page)]
        result.target = target_def.table
        if not records:
            log("INFO", f"no records at {records_path}: {target_def.table} left unchanged")
        else:
            job = TableJob(
                source_connector=RECORDS_CONNECTOR,
                source_props={"table": records_table(records)},
                target_connector=target[0],
                target_props=target[1],
                source_table=RECORDS_TABLE,
                target_table=target_def.table,
                target_schema=target_def.schema_name,
                load_method=target_def.loading_method,
                load_id=load_id,
            )
            loaded = run_table_job(
                job, cancel=cancel, log=log, registry=action_registry(), metering=metering
            )
            result.rows, result.size = loaded.rows, loaded.bytes
    tables = 1 if target_def is not None else 0
    result.units = Decimal(str(compute_api_units(tables, succeeded=True, policy=metering)))
    return result


def action_details(result: ActionResult, scope: Scope) -> dict[str, Any]:
    """What a run or step record shows of an execution (private values masked)."""
    shown = {
        name: MASK if scope.is_private(name) else value for name, value in result.variables.items()
    }
    details: dict[str, Any] = {
        "http_status": result.http_status,
        "pages": result.pages,
        "calls": result.calls,
        "variables": shown,
    }
    if result.target:
        details["target_table"] = result.target
        details["rows"] = result.rows
    return details


class ActionsHandler:
    """An action river run on its own: one run, one execution."""

    def prepare(
        self, context: RunnerContext, session: Session, group: RunGroup
    ) -> PreparedRiver[RunPlan]:
        plan = load_plan(session, SecretBox.from_settings(context.settings), group)
        root = plan.root
        if not isinstance(root.model, ActionsRiver):
            raise ValueError(f"river {root.id} is not an action river")
        return PreparedRiver(
            timeout_seconds=float(root.model.settings.run_timeout_seconds),
            secrets=tuple(plan.secrets),
            definition=plan,
        )

    def run(self, context: RunnerContext, job: RunJob[RunPlan]) -> Outcome:
        plan = job.river.definition
        root = plan.root
        assert isinstance(root.model, ActionsRiver)
        scope = plan.base_scope(
            root, run_id=job.run_id, run_group_id=job.run_group_id, now=context.clock()
        )
        target_def = root.model.properties.response.target
        target = plan.connection(target_def.connection_id) if target_def else None
        log = SecretLog(job.log, plan.secrets)
        try:
            result = run_action(
                root.model,
                target,
                scope,
                cancel=job.cancel,
                log=log,
                load_id=job.run_id,
                on_secret=log.add,
                metering=context.metering,
            )
        except Exception as exc:
            # The run's own redactor does not know credentials obtained while running (an
            # OAuth access token an API may repeat in its error): mask them here.
            message = str(exc)
            if log.redact(message) != message:
                exc.args = (log.redact(message),)
            raise
        finally:
            save_variables(context, job.run_id, scope)
        return Outcome(
            rows=result.rows,
            size=result.size,
            units=result.units,
            details=action_details(result, scope),
        )
