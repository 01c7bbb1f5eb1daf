"""Checks of a river definition that need the metadata DB, reported as one field-named 422.

A definition that saves must be runnable: its connections exist in the same environment and fit
their role, merges have keys, file sources say their format, logic rivers reference rivers that
exist and never (even transitively) run themselves, and every ``{variable}`` it uses is known
when the step runs. Broken configs accepted silently are a known complaint about the hosted
service; here they fail at save time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from headwater.connectors.partitioning import partitioning_refusal
from headwater.errors import InvalidFields
from headwater.schemas.rivers_actions import ActionsRiver
from headwater.schemas.rivers_common import RiverBase, raw_variable_names
from headwater.schemas.rivers_logic import (
    CODE_STEP_TYPES,
    ActionStep,
    ConditionContainer,
    DbtStep,
    LogicNode,
    LogicRiver,
    LoopContainer,
    PythonStep,
    RiverStep,
    RunOnceContainer,
    SqlStep,
)
from headwater.schemas.rivers_s2t import SourceTable, SrcToTrgtRiver, TableDetails
from headwater.services import connection_types
from headwater.services.envscope import EnvScope
from headwater.store.models import Connection, EnvironmentVariable, River, RiverGroup
from headwater.store.models import RiverReference as Ref

#: Variables every run defines, whatever the river says.
BUILTIN_VARIABLES = frozenset(
    {
        "run_date",
        "run_datetime",
        "run_id",
        "run_group_id",
        "river_id",
        "river_name",
        "account_id",
        "environment_id",
    }
)
VARIABLE_REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

AnyRiver = SrcToTrgtRiver | LogicRiver | ActionsRiver


@dataclass
class References:
    """What a river points at; stored as ``river_references`` rows on save."""

    connections: set[str] = field(default_factory=set)
    rivers: set[str] = field(default_factory=set)


@dataclass
class _Checker:
    session: Session
    scope: EnvScope
    river_id: str | None
    errors: list[tuple[str, str]] = field(default_factory=list)
    refs: References = field(default_factory=References)

    def fail(self, loc: str, message: str) -> None:
        self.errors.append((loc, message))

    def connection(self, loc: str, connection_id: str, role: str | None) -> Connection | None:
        found = self.session.get(Connection, connection_id)
        if (
            found is None
            or found.account_id != self.scope.account_id
            or found.environment_id != self.scope.environment_id
        ):
            self.fail(loc, f"connection {connection_id} was not found in this environment")
            return None
        self.refs.connections.add(found.id)
        spec = connection_types.find_spec(found.connection_type)
        if role is not None and spec is not None and role not in spec.roles:
            self.fail(
                loc, f"connection {found.name!r} ({found.connection_type}) cannot be a {role}"
            )
        return found

    def river(self, loc: str, river_id: str) -> River | None:
        found = self.session.get(River, river_id)
        if (
            found is None
            or found.account_id != self.scope.account_id
            or found.environment_id != self.scope.environment_id
        ):
            self.fail(loc, f"river {river_id} was not found in this environment")
            return None
        self.refs.rivers.add(found.id)
        return found

    def variables_in(self, loc: str, texts: Iterable[str], known: set[str]) -> None:
        for text in texts:
            for name in VARIABLE_REFERENCE.findall(text):
                if name not in known:
                    self.fail(
                        loc,
                        f"unknown variable {{{name}}}: define it as a river or environment "
                        "variable, or set it in an earlier step",
                    )


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON value (keys included), for variable-reference checks."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def environment_variable_names(session: Session, scope: EnvScope) -> set[str]:
    return set(
        session.scalars(
            select(EnvironmentVariable.name).where(
                EnvironmentVariable.environment_id == scope.environment_id,
                EnvironmentVariable.account_id == scope.account_id,
            )
        )
    )


def environment_raw_names(session: Session, scope: EnvScope) -> set[str]:
    return set(
        session.scalars(
            select(EnvironmentVariable.name).where(
                EnvironmentVariable.environment_id == scope.environment_id,
                EnvironmentVariable.account_id == scope.account_id,
                EnvironmentVariable.is_raw.is_(True),
            )
        )
    )


def _check_s2t(check: _Checker, river: SrcToTrgtRiver) -> None:
    props = river.properties
    source = check.connection(
        "properties.source.connection_id", props.source.connection_id, "source"
    )
    target = check.connection(
        "properties.target.connection_id", props.target.connection_id, "target"
    )
    target_spec = None if target is None else connection_types.find_spec(target.connection_type)
    is_file_source = source is not None and connection_types.reads_files(source.connection_type)
    for s, schema in enumerate(props.schemas):
        for t, table in enumerate(schema.tables):
            loc = f"properties.schemas.{s}.tables.{t}"
            method = table.details.loading_method or props.target.loading_method
            if table.details.extract_method == "cdc":
                _check_cdc(check, loc, table, source)
            elif method == "merge" and not table.details.key_columns():
                check.fail(
                    f"{loc}.details.modified_columns",
                    "loading_method 'merge' needs key columns: mark at least one "
                    "modified_columns entry with is_key: true",
                )
            _check_selected_columns(check, loc, table.details)
            if target is not None and target_spec is not None:
                refusal = partitioning_refusal(
                    table.details.partition_by,
                    target_spec.capabilities.partitioning,
                    target.connection_type,
                )
                if refusal:
                    check.fail(f"{loc}.details.partition_by", refusal)
            if is_file_source and table.query is not None:
                check.fail(f"{loc}.query", "a file source has no SQL: give a path or glob as name")
            if is_file_source and table.details.file_format is None:
                check.fail(
                    f"{loc}.details.file_format", "a file source needs csv, jsonl or parquet"
                )


def _check_cdc(check: _Checker, loc: str, table: SourceTable, source: Any) -> None:
    """Change capture reads a table's log: a source that has one, and a table. Changes are
    applied by key (the primary key unless key columns are marked), whatever the loading
    method but ``append``, which keeps an append-only change log."""
    if source is not None:
        spec = connection_types.find_spec(source.connection_type)
        if spec is None or not spec.capabilities.change_capture:
            check.fail(
                f"{loc}.details.extract_method",
                f"extract_method 'cdc' needs a source that can capture changes "
                f"(PostgreSQL, MySQL/MariaDB), not {source.connection_type}",
            )
    if table.query is not None:
        check.fail(f"{loc}.query", "extract_method 'cdc' reads a table, not a custom query")


def _check_selected_columns(check: _Checker, loc: str, details: TableDetails) -> None:
    """Merge keys and the incremental cursor are read from the source, so they must be among
    the selected columns (the engine refuses them too, but only at the first run)."""
    unselected = set(details.unselected_columns())
    for key in details.key_columns():
        if key in unselected:
            check.fail(
                f"{loc}.details.modified_columns",
                f"the merge key column {key!r} is not selected: a key column must be loaded "
                "(set is_selected: true or pick another key)",
            )
    cursor = details.incremental_field
    if details.extract_method == "incremental" and cursor in unselected:
        check.fail(
            f"{loc}.details.incremental_field",
            f"the cursor column {cursor!r} is not selected: the incremental cursor must be "
            "loaded (set is_selected: true or pick another cursor)",
        )
    for column in details.partition_columns():
        if column in unselected:
            check.fail(
                f"{loc}.details.partition_by",
                f"the partition column {column!r} is not selected: a partition column must be "
                "loaded (set is_selected: true or change partition_by)",
            )


def _check_steps(check: _Checker, steps: Sequence[LogicNode], loc: str, known: set[str]) -> None:
    """Walk steps in run order; ``known`` grows with variables that steps set."""
    for i, step in enumerate(steps):
        here = f"{loc}.{i}"
        if isinstance(step, SqlStep):
            check.connection(f"{here}.connection_id", step.connection_id, None)
            check.variables_in(f"{here}.sql", [step.sql], known)
            if step.target_variable:
                known.add(step.target_variable)
        elif isinstance(step, RiverStep | ActionStep):
            target = check.river(f"{here}.river_id", step.river_id)
            wants_action = isinstance(step, ActionStep)
            if target is not None and (target.river_type == "actions") != wants_action:
                kind = "an action river" if wants_action else "a source-to-target or logic river"
                check.fail(f"{here}.river_id", f"river {target.name!r} is not {kind}")
            if target is not None and target.river_type == "actions":
                response = target.definition.get("properties", {}).get("response", {})
                known.update(v["name"] for v in response.get("variables", []))
        elif isinstance(step, DbtStep):
            check.connection(f"{here}.connection_id", step.connection_id, None)
            check.variables_in(f"{here}.select", [step.select or "", step.exclude or ""], known)
            check.variables_in(f"{here}.vars", _strings(step.vars), known)
        elif isinstance(step, PythonStep):
            for c, connection_id in enumerate(step.connection_ids):
                check.connection(f"{here}.connection_ids.{c}", connection_id, None)
            known.update(step.output_variables)
        elif isinstance(step, LoopContainer):
            if step.variable not in known:
                check.fail(f"{here}.variable", f"unknown variable {step.variable!r}")
            item = step.item_variable or step.variable
            inner = set(known) | {item}
            _check_steps(check, step.steps, f"{here}.steps", inner)
            known.update(inner - {item})  # set inside the loop: known after it
        elif isinstance(step, ConditionContainer):
            if step.variable not in known:
                check.fail(f"{here}.variable", f"unknown variable {step.variable!r}")
            _check_steps(check, step.steps, f"{here}.steps", known)
        elif isinstance(step, RunOnceContainer):
            _check_steps(check, step.steps, f"{here}.steps", known)


def _code_steps(steps: Iterable[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for step in steps:
        if not isinstance(step, dict):
            continue
        if step.get("type") in CODE_STEP_TYPES:
            found.append(step)
        found.extend(_code_steps(step.get("steps") or []))
    return found


def code_steps_of_definition(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``dbt`` and ``python`` steps of a stored definition, in tree order."""
    if definition.get("type") != "logic":
        return []
    return _code_steps((definition.get("properties") or {}).get("steps") or [])


def code_steps(river: AnyRiver) -> list[dict[str, Any]]:
    """The ``dbt`` and ``python`` steps of a river (as stored), in tree order."""
    if not isinstance(river, LogicRiver):
        return []
    return code_steps_of_definition(river.model_dump(mode="json"))


def _reaches(session: Session, start: Iterable[str], goal: str) -> list[str] | None:
    """A path of river ids from one of ``start`` to ``goal`` through logic references."""
    parents: dict[str, str | None] = {river_id: None for river_id in start}
    frontier = list(parents)
    while frontier:
        current = frontier.pop()
        if current == goal:
            path = [current]
            while parents[path[-1]] is not None:
                path.append(parents[path[-1]] or "")
            return list(reversed(path))
        for nxt in session.scalars(
            select(Ref.ref_id).where(Ref.river_id == current, Ref.ref_type == "river")
        ):
            if nxt not in parents:
                parents[nxt] = current
                frontier.append(nxt)
    return None


def _check_logic(check: _Checker, river: LogicRiver, known: set[str]) -> None:
    _check_steps(check, river.properties.steps, "properties.steps", known)
    if check.river_id is None or not check.refs.rivers:
        return
    path = _reaches(check.session, check.refs.rivers, check.river_id)
    if path is not None:
        names = {
            r.id: r.name for r in check.session.scalars(select(River).where(River.id.in_(path)))
        }
        chain = " -> ".join(repr(names.get(p, p)) for p in [check.river_id, *path])
        check.fail("properties.steps", f"the logic river would run itself: {chain}")


def _host_references(url: str) -> list[str]:
    """Variables referenced before a URL's path (scheme, host, port)."""
    scheme = url.find("://")
    rest = url[scheme + 3 :] if scheme >= 0 else url
    head = url[: scheme + 3] + re.split(r"[/?#]", rest, maxsplit=1)[0]
    return VARIABLE_REFERENCE.findall(head)


def _check_url_hosts(check: _Checker, river: ActionsRiver, raw: set[str]) -> None:
    """Only a raw variable may choose where a request (and its credentials) goes; the runner
    refuses anything else (``variables.render_url``), so say it when the river is saved."""
    urls = [("properties.request.url", river.properties.request.url)]
    token_url = getattr(river.properties.auth, "token_url", None)
    if isinstance(token_url, str):
        urls.append(("properties.auth.token_url", token_url))
    for loc, url in urls:
        for name in _host_references(url):
            if name not in raw:
                check.fail(
                    loc,
                    f"{{{name}}} is in the scheme or host of the URL: only a raw variable "
                    '(declared with "raw": true) may go there',
                )


def _check_actions(check: _Checker, river: ActionsRiver, known: set[str]) -> None:
    request = river.properties.request
    check.variables_in("properties.request.url", [request.url], known)
    check.variables_in("properties.request.query", _strings(request.query), known)
    check.variables_in("properties.request.headers", _strings(request.headers), known)
    check.variables_in("properties.request.body", _strings(request.body.content), known)
    target = river.properties.response.target
    if target is not None:
        check.connection("properties.response.target.connection_id", target.connection_id, "target")


def check_river(
    session: Session, scope: EnvScope, river: AnyRiver, *, river_id: str | None
) -> References:
    """Raise ``InvalidFields`` naming every problem, or return what the river references."""
    check = _Checker(session, scope, river_id)
    _check_group(check, river)
    known = set(river.variables) | environment_variable_names(session, scope) | BUILTIN_VARIABLES
    if isinstance(river, SrcToTrgtRiver):
        _check_s2t(check, river)
    elif isinstance(river, LogicRiver):
        _check_logic(check, river, known)
    else:
        _check_actions(check, river, known)
        # Raw where the winning definition says so (a plain river variable overrides).
        environment_raw = environment_raw_names(session, scope) - set(river.variables)
        _check_url_hosts(check, river, raw_variable_names(river.variables) | environment_raw)
    if check.errors:
        raise InvalidFields(check.errors)
    return check.refs


def _check_group(check: _Checker, river: RiverBase) -> None:
    if river.group_id is None:
        return
    group = check.session.get(RiverGroup, river.group_id)
    if group is None or group.environment_id != check.scope.environment_id:
        check.fail("group_id", f"group {river.group_id} was not found in this environment")
