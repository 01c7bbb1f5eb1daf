"""Logic rivers: an ordered tree of steps (``sql``, ``river``, ``action``) and containers
(``run_once``, ``loop``, ``condition``), each discriminated by ``type``.

References to other rivers are checked on save by ``services.river_checks`` (exists, same
environment, right type, no cycle), as are ``{variable}`` references in SQL.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

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
    SqlStep | RiverStep | ActionStep | RunOnceContainer | LoopContainer | ConditionContainer,
    Field(discriminator="type"),
]

CONTAINER_TYPES = frozenset({"run_once", "loop", "condition"})


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
