"""Starting a river: from a stored river to a recorded run group handed to an executor.

Every trigger (API, legacy API, console, scheduler, logic step) goes through ``start_river``
so the rules (disabled rivers refuse, one group in flight, one run per task) hold everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.connectors.files.naming import table_name_for_file
from headwater.errors import InvalidFields, InvalidInput, NotFound
from headwater.schemas.rivers_s2t import SourceTable, SrcToTrgtRiver
from headwater.services import runs as run_service
from headwater.services import tracing
from headwater.services.connection_types import reads_files
from headwater.services.rivers import get_river_in_environment
from headwater.services.runs import RiverRef, TaskPlan
from headwater.store.models.connections import Connection, EnvironmentVariable
from headwater.store.models.rivers import River, RiverReference
from headwater.store.models.runs import RunGroup

Submit = Callable[[str], None]


def selected_tables(model: SrcToTrgtRiver) -> list[tuple[str, SourceTable]]:
    """(schema name, table) for every selected table of a source-to-target river, in order."""
    return [
        (schema.name, table)
        for schema in model.properties.schemas
        for table in schema.tables
        if table.details.is_selected
    ]


def table_task(
    schema: str, table: SourceTable, index: int, prefix: str, *, file_source: bool = False
) -> TaskPlan:
    """The run of one selected table; ``file_source``: its name is a path (default naming)."""
    if table.query is not None:
        source = f"query {index + 1}"
        default_target = f"query_{index + 1}"
    else:
        name = table.name or ""
        source = f"{schema}.{name}" if schema else name
        default_target = (
            table_name_for_file(name, index) if file_source else name.rsplit("/", 1)[-1]
        )
    target = prefix + (table.details.target_table or default_target)
    return TaskPlan(task_key=f"{index}:{source}", source_name=source, target_name=target)


def source_reads_files(session: Session, river: River) -> bool:
    """Whether the river's source is a file connection (its tables are paths)."""
    source = (river.definition.get("properties") or {}).get("source") or {}
    connection_id = source.get("connection_id")
    if not connection_id:
        return False
    kind = session.scalar(
        select(Connection.connection_type).where(Connection.id == str(connection_id))
    )
    return kind is not None and reads_files(kind)


def plan_tasks(river: River, *, file_source: bool = False) -> list[TaskPlan]:
    """One run per selected table (source to target), else one run for the river itself."""
    if river.river_type == "src_to_trgt":
        model = SrcToTrgtRiver.model_validate(river.definition)
        prefix = model.properties.target.table_prefix or ""
        tables = selected_tables(model)
        if not tables:
            raise InvalidInput(f"River {river.id} has no selected tables to run")
        return [
            table_task(schema, table, i, prefix, file_source=file_source)
            for i, (schema, table) in enumerate(tables)
        ]
    return [TaskPlan(task_key=river.river_type, source_name=river.name, target_name=None)]


def start_river(
    session: Session,
    river: River,
    *,
    trigger: str,
    now: datetime,
    submit: Submit | None,
    variables: dict[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> RunGroup:
    """Record a run group for the river and hand it to the executor (unless skipped)."""
    if river.status != "active":
        raise InvalidInput(f"River {river.id} is disabled; activate it before running it")
    if variables:
        refuse_raw_parameters(session, river, variables)
    ref = RiverRef(river.account_id, river.environment_id, river.id, river.river_type)
    with tracing.span("headwater.trigger", river_id=river.id, trigger=trigger) as span:
        group = run_service.trigger_river(
            session,
            ref,
            trigger=trigger,
            tasks=plan_tasks(river, file_source=source_reads_files(session, river)),
            now=now,
            variables=variables,
            parent_run_id=parent_run_id,
            trace_context=tracing.current_trace_context(),
        )
        span.set_attribute("headwater.run_group_id", group.id)
        span.set_attribute("headwater.status", group.status)
        if group.status == "pending":
            if submit is None:
                raise RuntimeError("no executor is configured to run rivers")
            _submit_as_recorded(group, submit)
    return group


def _submit_as_recorded(group: RunGroup, submit: Submit) -> None:
    """Hand the group to the executor once its runs are loaded: the 202 answer shows them as
    recorded (``pending``), not as whatever a worker made of them in the meantime (a lazy load
    after the submit raced the worker and sometimes answered ``running``)."""
    for run in group.runs:
        _ = run.status
    submit(group.id)


def raw_variable_names(session: Session, river: River) -> set[str]:
    """Variables declared raw by the environment, the river and every river it runs."""
    names = set(
        session.scalars(
            select(EnvironmentVariable.name).where(
                EnvironmentVariable.environment_id == river.environment_id,
                EnvironmentVariable.is_raw.is_(True),
            )
        )
    )
    seen: set[str] = set()
    frontier = [river]
    while frontier:
        current = frontier.pop()
        if current.id in seen:
            continue
        seen.add(current.id)
        for name, value in (current.definition.get("variables") or {}).items():
            if isinstance(value, dict) and value.get("raw"):
                names.add(name)
        for ref_id in session.scalars(
            select(RiverReference.ref_id).where(
                RiverReference.river_id == current.id, RiverReference.ref_type == "river"
            )
        ):
            found = session.get(River, ref_id)
            if found is not None and found.id not in seen:
                frontier.append(found)
    return names


def refuse_raw_parameters(session: Session, river: River, variables: dict[str, Any]) -> None:
    """422 naming each run parameter that would set a raw variable.

    A raw variable is spliced into SQL and URLs verbatim; its value may come only from a
    definition (river or environment), which needs ``river:write`` or ``variables:edit``, never
    from whoever may only run the river (``river:execute``). The runner refuses them too.
    """
    refused = sorted(set(variables) & raw_variable_names(session, river))
    if refused:
        raise InvalidFields(
            [
                (
                    f"variables.{name}",
                    f"{{{name}}} is a raw variable (spliced into SQL and URLs verbatim): run "
                    "parameters cannot set it; change its definition instead",
                )
                for name in refused
            ]
        )


def start_sub_river(
    session: Session,
    river: River,
    sub_river_id: str,
    *,
    trigger: str,
    now: datetime,
    submit: Submit | None,
) -> RunGroup:
    """Run one sub river of a logic river, as a run in a group of the logic river."""
    if river.river_type != "logic":
        raise InvalidInput(f"River {river.id} is not a logic river and has no sub rivers")
    referenced = session.scalars(
        select(RiverReference.ref_id).where(
            RiverReference.river_id == river.id, RiverReference.ref_type == "river"
        )
    ).all()
    if sub_river_id not in referenced:
        raise NotFound(f"River {sub_river_id} is not a sub river of river {river.id}")
    sub = get_river_in_environment(session, river.environment_id, sub_river_id)
    if river.status != "active":
        raise InvalidInput(f"River {river.id} is disabled; activate it before running it")
    ref = RiverRef(river.account_id, river.environment_id, river.id, river.river_type)
    task = TaskPlan(task_key=f"sub:{sub.id}", source_name=sub.name, sub_river_id=sub.id)
    group = run_service.trigger_river(session, ref, trigger=trigger, tasks=[task], now=now)
    if group.status == "pending" and submit is not None:
        _submit_as_recorded(group, submit)
    return group
