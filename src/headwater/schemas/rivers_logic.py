"""Logic rivers: an ordered tree of steps (``sql``, ``river``, ``action``, ``dbt``, ``python``)
and containers (``run_once``, ``loop``, ``condition``), each discriminated by ``type``.

``dbt`` and ``python`` steps run code on the worker, so saving a river that contains one needs
the ``river:code`` scope (``services.rivers``); ``CODE_STEP_TYPES`` names them.

References to other rivers are checked on save by ``services.river_checks`` (exists, same
environment, right type, no cycle), as are ``{variable}`` references in SQL.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from headwater.schemas.rivers_common import (
    ObjectId,
    RiverBase,
    Strict,
    VariableName,
    VariableValue,
)


class StepBase(Strict):
    name: str = Field(default="", max_length=200, description="Shown in logs and the console.")
    is_enabled: bool = Field(default=True, description="A disabled step is skipped.")
    continue_on_failure: bool = Field(
        default=False, description="A failure of this step does not stop the river."
    )


#: ``SqlStep._one_target`` in JSON Schema: not both a (non-empty) table and a variable.
ONE_TARGET: dict[str, Any] = {
    "not": {
        "required": ["target_table", "target_variable"],
        "properties": {
            "target_table": {"type": "string", "minLength": 1},
            "target_variable": {"type": "string"},
        },
    }
}
SINGLE_VALUE = {"not": {"type": ["null", "array"]}}
#: ``ConditionContainer._value_fits_operator`` in JSON Schema.
VALUE_FITS_OPERATOR: dict[str, Any] = {
    "allOf": [
        {
            "if": {"properties": {"operator": {"const": "in"}}},
            "then": {"required": ["value"], "properties": {"value": {"type": "array"}}},
        },
        {
            "if": {
                "properties": {
                    "operator": {"enum": ["equals", "not_equals", "greater_than", "less_than"]}
                }
            },
            "then": {"required": ["value"], "properties": {"value": SINGLE_VALUE}},
        },
    ]
}


class SqlStep(StepBase):
    """Run SQL on a connection; optionally load its result into a table or a variable."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=ONE_TARGET)

    type: Literal["sql"]
    connection_id: ObjectId
    sql: str = Field(min_length=1)
    target_table: str | None = None
    target_schema: str | None = None
    loading_method: Literal["overwrite", "append"] = "overwrite"
    target_variable: VariableName | None = Field(
        default=None, description="Store the first column of the result (a list) in a variable."
    )

    @model_validator(mode="after")
    def _one_target(self) -> SqlStep:
        if self.target_table and self.target_variable:
            raise ValueError("give target_table or target_variable, not both")
        return self


class RiverStep(StepBase):
    """Run another river (source-to-target or logic) and wait for it."""

    type: Literal["river"]
    river_id: ObjectId


class ActionStep(StepBase):
    """Run an action river; its response variables become known to later steps."""

    type: Literal["action"]
    river_id: ObjectId


#: A git ref or a dbt selector part: no leading dash (it would read as an option), no spaces.
_REF = re.compile(r"^[A-Za-z0-9_./@^~+-]+$")


#: ``DbtStep._one_project`` for generated clients: exactly one of a non-empty ``project_dir``
#: (absolute) and a non-empty ``git_url``; ``full_refresh`` only with build, run and seed.
_DBT_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "required": ["project_dir"],
            "properties": {"project_dir": {"type": "string", "pattern": "^/"}},
            "not": {"required": ["git_url"]},
        },
        {
            "required": ["git_url"],
            "properties": {"git_url": {"type": "string", "minLength": 1}},
            "not": {"required": ["project_dir"]},
        },
    ],
    "if": {"required": ["full_refresh"], "properties": {"full_refresh": {"const": True}}},
    "then": {"properties": {"command": {"enum": ["build", "run", "seed"]}}},
}


class DbtStep(StepBase):
    """Run a dbt Core command on a dbt project against one of the river's connections."""

    model_config = ConfigDict(json_schema_extra=_DBT_SCHEMA)

    type: Literal["dbt"]
    connection_id: ObjectId
    project_dir: str | None = Field(
        default=None, description="Absolute path of the dbt project on the Headwater host."
    )
    git_url: str | None = Field(
        default=None, description="https or ssh URL of a git repository holding the project."
    )
    git_ref: str = Field(
        default="HEAD",
        description="Branch, tag or commit of ``git_url``.",
        json_schema_extra={"pattern": r"^(?!-)[A-Za-z0-9_./@^~+-]+$"},
    )
    subdirectory: str = Field(
        default="",
        description="Folder of the project inside the repository (git only).",
        json_schema_extra={"pattern": r"^(?!/)(?!(.*/)?\.\.(/|$))"},
    )
    command: Literal["build", "run", "test", "seed", "snapshot"] = "build"
    select: str | None = Field(default=None, description="dbt ``--select``; may use {variables}.")
    exclude: str | None = Field(default=None, description="dbt ``--exclude``.")
    vars: dict[str, Any] = Field(
        default_factory=dict,
        description="dbt ``--vars``; a string that is exactly ``{name}`` becomes that variable.",
    )
    full_refresh: bool = Field(default=False, description="Pass ``--full-refresh``.")

    @model_validator(mode="after")
    def _one_project(self) -> DbtStep:
        if bool(self.project_dir) == bool(self.git_url):
            raise ValueError("give project_dir or git_url, exactly one")
        if self.project_dir is not None and not self.project_dir.startswith("/"):
            raise ValueError("project_dir must be an absolute path")
        if not _REF.match(self.git_ref) or self.git_ref.startswith("-"):
            raise ValueError("git_ref must be a branch, tag or commit name")
        if self.subdirectory.startswith("/") or ".." in self.subdirectory.split("/"):
            raise ValueError("subdirectory must be a relative path inside the repository")
        if self.full_refresh and self.command not in {"build", "run", "seed"}:
            raise ValueError(f"full_refresh does not apply to dbt {self.command}")
        return self


class PythonStep(StepBase):
    """Call ``function(variables)`` of a Python script in a separate, limited process."""

    type: Literal["python"]
    script: str = Field(min_length=1, max_length=200_000, description="Python source.")
    function: str = Field(
        default="main",
        description="Called with a dict of the variables.",
        json_schema_extra={"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
    )
    timeout_seconds: float = Field(default=300, gt=0, le=86_400)
    memory_mb: int = Field(default=512, ge=32, le=65_536)
    connection_ids: list[ObjectId] = Field(
        default_factory=list,
        description="Connections the function receives (in ``variables['_connections']``).",
    )
    output_variables: list[VariableName] = Field(
        default_factory=list,
        description="Keys of the returned dict that later steps use as variables.",
    )

    @field_validator("function")
    @classmethod
    def _function_name(cls, value: str) -> str:
        if not value.isidentifier():
            raise ValueError("function must be a Python identifier")
        return value


class RunOnceContainer(StepBase):
    type: Literal["run_once"]
    steps: list[LogicNode] = Field(min_length=1)


class LoopContainer(StepBase):
    """Run ``steps`` once per value of ``variable`` (a list), the value bound to ``item_variable``
    (default: the loop variable's own name inside the loop)."""

    type: Literal["loop"]
    variable: VariableName
    item_variable: VariableName | None = None
    mode: Literal["sequential", "parallel"] = "sequential"
    max_parallel: int = Field(default=4, ge=1, le=64)
    steps: list[LogicNode] = Field(min_length=1)


class ConditionContainer(StepBase):
    """Run ``steps`` only when ``variable`` compares with ``value`` as ``operator`` says."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=VALUE_FITS_OPERATOR)

    type: Literal["condition"]
    variable: VariableName
    operator: Literal["equals", "not_equals", "greater_than", "less_than", "in", "is_empty"]
    value: VariableValue = None
    steps: list[LogicNode] = Field(min_length=1)

    @model_validator(mode="after")
    def _value_fits_operator(self) -> ConditionContainer:
        if self.operator == "in" and not isinstance(self.value, list):
            raise ValueError("operator 'in' needs a list value")
        if self.operator in {"equals", "not_equals", "greater_than", "less_than"} and (
            self.value is None or isinstance(self.value, list)
        ):
            raise ValueError(f"operator {self.operator!r} needs a single value")
        return self


LogicNode = Annotated[
    SqlStep
    | RiverStep
    | ActionStep
    | DbtStep
    | PythonStep
    | RunOnceContainer
    | LoopContainer
    | ConditionContainer,
    Field(discriminator="type"),
]

CONTAINER_TYPES = frozenset({"run_once", "loop", "condition"})
#: Steps that execute user code on the worker: saving them needs the ``river:code`` scope.
CODE_STEP_TYPES = frozenset({"dbt", "python"})


class LogicProperties(Strict):
    steps: list[LogicNode] = Field(min_length=1)


class LogicRiver(RiverBase):
    type: Literal["logic"]
    properties: LogicProperties


RunOnceContainer.model_rebuild()
LoopContainer.model_rebuild()
ConditionContainer.model_rebuild()
LogicProperties.model_rebuild()
LogicRiver.model_rebuild()
