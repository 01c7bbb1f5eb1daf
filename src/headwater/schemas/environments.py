"""Environments, river groups and environment variables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, Field, field_validator

from headwater.schemas.common import SingleLine
from headwater.schemas.rivers_common import NOT_BLANK, Strict, VariableName, VariableValue


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("the name must not be blank")
    return value.strip()


class EnvironmentIn(Strict):
    name: SingleLine = Field(min_length=1, max_length=200, json_schema_extra={"pattern": NOT_BLANK})

    _strip = field_validator("name")(_not_blank)


class EnvironmentOut(BaseModel):
    environment_id: str
    id: str
    name: str
    is_default: bool
    account_id: str
    created_at: datetime


class GroupIn(Strict):
    """``name`` (``group_name`` is accepted too, the legacy API's spelling)."""

    name: SingleLine = Field(
        min_length=1,
        max_length=200,
        validation_alias=AliasChoices("name", "group_name"),
        json_schema_extra={"pattern": NOT_BLANK},
    )

    _strip = field_validator("name")(_not_blank)


class GroupOut(BaseModel):
    group_id: str
    cross_id: str
    name: str
    group_name: str
    river_count: int
    account_id: str
    environment_id: str
    created_at: datetime


class VariableIn(Strict):
    name: VariableName
    value: VariableValue = None
    is_private: bool = Field(
        default=False, description="Encrypted at rest and shown as ******** in every response."
    )
    raw: bool = Field(
        default=False,
        description="Inserted verbatim into SQL and URLs instead of as a quoted value; run "
        "parameters can never set a raw variable.",
    )


class VariablesIn(Strict):
    """Body of ``PUT E/variables``: sets (creates or replaces) the listed variables only."""

    variables: list[VariableIn] = Field(min_length=1)


class VariableOut(BaseModel):
    name: str
    value: Any
    is_private: bool
    raw: bool = False
    updated_at: datetime


class VariableList(BaseModel):
    items: list[VariableOut]
    account_id: str
    environment_id: str
