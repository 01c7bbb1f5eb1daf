"""Everything a logic or action run needs from the metadata DB, loaded once in ``prepare``.

Runs execute outside any request and may take hours, so the handler reads the rivers it will
run (a logic river's sub rivers and actions, transitively), their connections (secrets
opened), the environment variables and the run parameters up front into a plain
:class:`RunPlan`. The same pass collects every secret value for log redaction: connection
passwords, private variable values (environment and river) and action credentials. The names
of private river variables of every river the run loads join the private environment
variables' names, so a run masks them wherever they are shown.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from headwater.engine.jobs import TableJob
from headwater.runner.source_to_target import build_jobs, table_header_secrets
from headwater.runner.variables import Scope, builtin_values
from headwater.schemas.rivers import RIVER_IN
from headwater.schemas.rivers_actions import AUTH_SECRET_FIELDS, ActionsRiver
from headwater.schemas.rivers_common import (
    private_variable_names,
    raw_variable_names,
    variable_values,
)
from headwater.schemas.rivers_logic import (
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
from headwater.schemas.rivers_s2t import SrcToTrgtRiver
from headwater.security.crypto import SecretBox
from headwater.security.redact import header_secret_parts
from headwater.services import variables as variable_service
from headwater.services.connections import connection_config
from headwater.services.envscope import EnvScope
from headwater.services.river_secrets import secret_headers, secret_text
from headwater.services.rivers import definition_for_run
from headwater.store.models.connections import Connection
from headwater.store.models.rivers import River
from headwater.store.models.runs import RunGroup

ConnectionConfig = tuple[str, dict[str, Any]]
AnyRiver = SrcToTrgtRiver | LogicRiver | ActionsRiver


@dataclass
class RiverPlan:
    """One river as it will run: its validated definition (secrets open) and, for a
    source-to-target river, its engine jobs."""

    id: str
    name: str
    river_type: str
    model: AnyRiver
    jobs: dict[str, TableJob] = field(default_factory=dict)

    @property
    def defaults(self) -> dict[str, Any]:
        """River variable values (private ones in clear)."""
        return variable_values(self.model.variables)

    @property
    def private(self) -> set[str]:
        return private_variable_names(self.model.variables)

    @property
    def raw(self) -> set[str]:
        """Variables this river declares ``"raw": true``."""
        return raw_variable_names(self.model.variables)


class RawParameter(ValueError):
    """A run parameter names a raw variable: run parameters may never set one."""

    def __init__(self, names: list[str]) -> None:
        listed = ", ".join(f"{{{name}}}" for name in names)
        super().__init__(
            f"run parameter(s) {listed} would set raw variable(s): a raw variable is spliced "
            "into SQL and URLs verbatim, so only its river or environment definition may set it"
        )
        self.names = names


@dataclass
class RunPlan:
    account_id: str
    environment_id: str
    root_id: str
    rivers: dict[str, RiverPlan]
    connections: dict[str, ConnectionConfig]
    environment: dict[str, Any]
    private: set[str]
    run_parameters: dict[str, Any]
    secrets: list[str]
    raw_environment: set[str] = field(default_factory=set)

    def raw_names(self) -> set[str]:
        """Every variable any definition of this run declares raw."""
        names = set(self.raw_environment)
        for river in self.rivers.values():
            names |= river.raw
        return names

    @property
    def root(self) -> RiverPlan:
        return self.rivers[self.root_id]

    def connection(self, connection_id: str) -> ConnectionConfig:
        try:
            return self.connections[connection_id]
        except KeyError:
            raise ValueError(f"connection {connection_id} is not available to this run") from None

    def river(self, river_id: str) -> RiverPlan:
        try:
            return self.rivers[river_id]
        except KeyError:
            raise ValueError(f"river {river_id} is not available to this run") from None

    def base_scope(self, river: RiverPlan, *, run_id: str, run_group_id: str, now: Any) -> Scope:
        """Built-ins < environment < river variables < run parameters."""
        values = builtin_values(
            now=now,
            run_id=run_id,
            run_group_id=run_group_id,
            river_id=river.id,
            river_name=river.name,
            account_id=self.account_id,
            environment_id=self.environment_id,
        )
        values.update(self.environment)
        values.update(river.defaults)
        refused = sorted(set(self.run_parameters) & self.raw_names())
        if refused:
            raise RawParameter(refused)
        values.update(self.run_parameters)
        # Raw where the definition that wins declares it: a river's plain variable overrides an
        # environment's raw one of the same name and is quoted.
        raw = (self.raw_environment - set(river.defaults)) | river.raw
        return Scope(values, private=self.private, raw=raw)

    def sub_scope(self, river: RiverPlan, parent: Scope) -> Scope:
        """The scope of a river run inline from a logic run: the logic run's variables over the
        river's own defaults, except that the river's raw variables keep their defined value
        (never one a run parameter or a step of the caller chose)."""
        values = {**river.defaults, **parent.snapshot()}
        values.update({name: river.defaults[name] for name in river.raw})
        raw = parent.raw_names() | river.raw
        return Scope(values, private=self.private, raw=raw)


def walk(steps: Sequence[LogicNode]) -> Iterator[LogicNode]:
    """Every step of a tree, containers included, depth first."""
    for step in steps:
        yield step
        if isinstance(step, RunOnceContainer | LoopContainer | ConditionContainer):
            yield from walk(step.steps)


class _Loader:
    def __init__(self, session: Session, box: SecretBox) -> None:
        self.session = session
        self.box = box
        self.rivers: dict[str, RiverPlan] = {}
        self.connections: dict[str, ConnectionConfig] = {}
        self.secrets: list[str] = []
        self.private: set[str] = set()

    def connection(self, connection_id: str) -> ConnectionConfig:
        if connection_id not in self.connections:
            config = connection_config(self.session, self.box, connection_id)
            stored = self.session.get_one(Connection, connection_id)
            self.secrets.extend(str(config[1][n]) for n in stored.secrets if config[1].get(n))
            self.connections[connection_id] = config
        return self.connections[connection_id]

    def river(self, river_id: str) -> RiverPlan:
        if river_id in self.rivers:
            return self.rivers[river_id]
        stored = self.session.get(River, river_id)
        if stored is None:
            raise ValueError(f"river {river_id} no longer exists")
        definition = definition_for_run(self.box, stored)
        model = RIVER_IN.validate_python(definition)
        plan = RiverPlan(stored.id, stored.name, stored.river_type, model)
        self.rivers[river_id] = plan  # before recursing: a cycle ends here, not in a loop
        for name in plan.private:
            self.private.add(name)
            self.secrets.extend(_texts(plan.defaults[name]))
        if isinstance(model, SrcToTrgtRiver):
            source = self.connection(model.properties.source.connection_id)
            target = self.connection(model.properties.target.connection_id)
            plan.jobs = build_jobs(stored.id, model, source, target)
            self.secrets.extend(table_header_secrets(definition))
        elif isinstance(model, ActionsRiver):
            auth = model.properties.auth
            for name in AUTH_SECRET_FIELDS.get(auth.type, ()):
                value = getattr(auth, name, None)
                if value:
                    self.secrets.append(str(value))
            for headers, name, _loc in secret_headers(definition["properties"]):
                self.secrets.extend(header_secret_parts(str(headers[name])))
            if model.properties.response.target is not None:
                self.connection(model.properties.response.target.connection_id)
        else:
            for step in walk(model.properties.steps):
                if isinstance(step, SqlStep | DbtStep):
                    self.connection(step.connection_id)
                elif isinstance(step, PythonStep):
                    for connection_id in step.connection_ids:
                        self.connection(connection_id)
                elif isinstance(step, RiverStep | ActionStep):
                    self.river(step.river_id)
        return plan


def _texts(value: Any) -> list[str]:
    """A private value's text forms for redaction: each item of a list, and the whole."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    texts = [str(v) for v in items if v is not None and v != ""]
    if isinstance(value, list):
        texts.append(secret_text(value))
    return texts


def load_plan(session: Session, box: SecretBox, group: RunGroup) -> RunPlan:
    """Read the group's river and everything it runs; raise with a clear message if one is
    gone."""
    loader = _Loader(session, box)
    loader.river(group.river_id)
    if group.runs:
        for run in group.runs:
            if run.sub_river_id:
                loader.river(run.sub_river_id)
    scope = EnvScope(group.account_id, group.environment_id)
    environment = variable_service.resolved_values(session, box, scope)
    listed = variable_service.list_variables(session, scope)
    private = {v.name for v in listed if v.is_private}
    raw_environment = {v.name for v in listed if v.is_raw}
    for name in private:
        loader.secrets.extend(_texts(environment.get(name)))
    private |= loader.private
    return RunPlan(
        account_id=group.account_id,
        environment_id=group.environment_id,
        root_id=group.river_id,
        rivers=loader.rivers,
        connections=loader.connections,
        environment=environment,
        private=private,
        run_parameters=dict(group.variables or {}),
        secrets=loader.secrets,
        raw_environment=raw_environment,
    )
