"""The source-to-target handler: a river's selected tables become engine ``TableJob``s."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from headwater.engine.jobs import CdcOptions, TableJob
from headwater.engine.pipeline import run_table_job
from headwater.runner.context import RunnerContext
from headwater.runner.contracts import Outcome, PreparedRiver, RunJob
from headwater.runner.parts import distribute
from headwater.schemas.rivers_s2t import SrcToTrgtRiver, TableDetails
from headwater.security.crypto import SecretBox
from headwater.security.redact import header_secret_parts
from headwater.services import tracing
from headwater.services.connection_types import loads_concurrently, reads_files
from headwater.services.connections import connection_config
from headwater.services.river_secrets import table_secret_headers
from headwater.services.rivers import definition_for_run
from headwater.services.triggering import selected_tables, table_task
from headwater.store.models.connections import Connection
from headwater.store.models.rivers import River
from headwater.store.models.runs import RunGroup


def _secret_values(session: Session, connection_id: str, props: dict[str, Any]) -> list[str]:
    connection = session.get_one(Connection, connection_id)
    return [str(props[name]) for name in connection.secrets if props.get(name)]


def build_jobs(
    river_id: str,
    model: SrcToTrgtRiver,
    source: tuple[str, dict[str, Any]],
    target: tuple[str, dict[str, Any]],
) -> dict[str, TableJob]:
    """One job per selected table, keyed like the runs' ``task_key`` (see ``plan_tasks``)."""
    settings = model.settings
    target_props = model.properties.target
    prefix = target_props.table_prefix or ""
    file_source = reads_files(source[0])
    jobs: dict[str, TableJob] = {}
    tables = selected_tables(model)
    state_keys = []
    for index, (schema_name, table) in enumerate(tables):
        task = table_task(schema_name, table, index, prefix, file_source=file_source)
        if table.details.extract_method == "cdc":
            state_keys.append(f"{river_id}:{task.source_name}->{task.target_name}")
    for index, (schema_name, table) in enumerate(tables):
        task = table_task(schema_name, table, index, prefix, file_source=file_source)
        details = table.details
        jobs[task.task_key] = TableJob(
            source_connector=source[0],
            source_props=source[1],
            target_connector=target[0],
            target_props=target[1],
            source_table=table.name,
            source_schema=(schema_name or None) if table.name else None,
            source_query=table.query,
            # Same default as the run's task (a file path's last part, not the whole path).
            target_table=(task.target_name or "")[len(prefix) :],
            target_schema=target_props.schema_name,
            target_prefix=prefix,
            extract_method=details.extract_method,
            cursor_column=details.incremental_field,
            cursor_type=details.incremental_type,
            start_value=None if details.start_value is None else str(details.start_value),
            load_method=details.loading_method or target_props.loading_method,
            merge_keys=tuple(details.key_columns()),
            excluded_columns=tuple(details.unselected_columns()),
            partition_by=tuple(details.partition_by),
            schema_drift=target_props.schema_drift,
            add_metadata_columns=target_props.add_metadata_columns,
            parallel_partitions=settings.parallel_partitions or 1,
            # Stable across edits that reorder tables: the cursor follows source and target.
            state_key=f"{river_id}:{task.source_name}->{task.target_name}",
            source_options=_source_options(details.file_format, details.source_options),
            cdc=_cdc_options(river_id, model, details, tuple(state_keys)),
        )
    return jobs


def _cdc_options(
    river_id: str, model: SrcToTrgtRiver, details: TableDetails, siblings: tuple[str, ...]
) -> CdcOptions | None:
    """The change capture settings of a ``cdc`` table (river-wide ones from ``source.cdc``)."""
    if details.extract_method != "cdc":
        return None
    settings = model.properties.source.cdc
    return CdcOptions(
        name=river_id,
        deletes=details.cdc_deletes,
        change_columns=details.cdc_change_columns,
        history=details.cdc_history,
        continuous=settings.mode == "continuous",
        commit_seconds=settings.commit_seconds,
        commit_changes=settings.commit_changes,
        snapshot_chunk_rows=settings.snapshot_chunk_rows,
        retained_warning_bytes=settings.retained_warning_bytes,
        sibling_state_keys=siblings,
    )


def table_header_secrets(definition: dict[str, Any]) -> list[str]:
    """The clear credential headers of a REST source's tables, for the run's redactor."""
    texts: list[str] = []
    for headers, name, _loc in table_secret_headers(definition.get("properties") or {}):
        texts.extend(header_secret_parts(str(headers[name])))
    return texts


def _source_options(file_format: str | None, options: dict[str, Any]) -> dict[str, Any]:
    """File and API sources read their per-table options from one bag (see the docs)."""
    merged = dict(options)
    if file_format is not None:
        merged.setdefault("file_format", file_format)
    return merged


def _river_disabled(context: RunnerContext, river_id: str) -> bool:
    """A continuous change capture stops when its river is disabled or deleted."""
    with context.sessions() as session:
        river = session.get(River, river_id)
        return river is None or river.status != "active"


def _timeout(model: SrcToTrgtRiver) -> float | None:
    """The river's run timeout, or ``None`` for a continuous change capture: such a run is
    meant to go on until it is canceled or its river disabled, so the timeout would only
    fail it and make the next run resume. A lost worker is still found by its heartbeat
    (the reaper), which the run keeps fresh while it reads."""
    continuous = model.properties.source.cdc.mode == "continuous" and any(
        table.details.extract_method == "cdc" for _schema, table in selected_tables(model)
    )
    return None if continuous else float(model.settings.run_timeout_seconds)


class SourceToTargetHandler:
    def prepare(
        self, context: RunnerContext, session: Session, group: RunGroup
    ) -> PreparedRiver[dict[str, TableJob]]:
        river = session.get_one(River, group.river_id)
        box = SecretBox.from_settings(context.settings)
        # The definition with its sealed values opened (a REST table's credential headers),
        # validated once: the typed model plans every table job.
        opened = definition_for_run(box, river)
        model = SrcToTrgtRiver.model_validate(opened)
        source_id = model.properties.source.connection_id
        target_id = model.properties.target.connection_id
        source = connection_config(session, box, source_id)
        target = connection_config(session, box, target_id)
        secrets = _secret_values(session, source_id, source[1]) + _secret_values(
            session, target_id, target[1]
        )
        secrets += table_header_secrets(opened)
        return PreparedRiver(
            timeout_seconds=_timeout(model),
            max_attempts=1 + model.settings.retry_attempts,
            retry_delay_seconds=model.settings.retry_delay_seconds,
            secrets=tuple(secrets),
            definition=build_jobs(river.id, model, source, target),
            concurrency=context.settings.table_concurrency if loads_concurrently(target[0]) else 1,
        )

    def run(self, context: RunnerContext, job: RunJob[dict[str, TableJob]]) -> Outcome:
        jobs = job.river.definition
        if job.task_key not in jobs:
            raise ValueError(f"The river no longer has the table {job.task_key!r}")
        table_job = replace(jobs[job.task_key], load_id=job.run_id)
        if table_job.cdc is not None:
            table_job = replace(
                table_job,
                cdc=replace(
                    table_job.cdc,
                    report=job.report,
                    should_stop=partial(_river_disabled, context, job.river_id),
                ),
            )
        job.log("INFO", f"copying {table_job.source_display()} into {table_job.target_name()}")
        distributed = distribute(context, job, table_job)
        if distributed is not None:
            return distributed
        with tracing.span(
            "headwater.load", target=table_job.target_name(), attempt=job.attempt
        ) as span:
            result = run_table_job(
                table_job,
                cancel=job.cancel,
                progress=job.progress,
                log=job.log,
                registry=context.registry,
                metering=context.metering,
            )
            span.set_attribute("headwater.rows", result.rows)
            span.set_attribute("headwater.bytes", result.bytes)
        details: dict[str, Any] = {"load_id": result.load_id, "native_copy": result.native}
        if result.cursor_value is not None:
            details["cursor"] = {"value": result.cursor_value, "type": result.cursor_type}
        if result.columns_added:
            details["columns_added"] = list(result.columns_added)
        details.update(result.details)
        return Outcome(
            rows=result.rows,
            size=result.bytes,
            units=Decimal(str(result.units)),
            details=details,
        )
