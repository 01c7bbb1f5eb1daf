"""The river request union (discriminated by ``type``), responses, versions and variables."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter

from headwater.schemas.rivers_actions import ActionsRiver
from headwater.schemas.rivers_common import RiverVariable, Strict
from headwater.schemas.rivers_logic import LogicRiver
from headwater.schemas.rivers_s2t import SrcToTrgtRiver

RiverIn = Annotated[SrcToTrgtRiver | LogicRiver | ActionsRiver, Field(discriminator="type")]
RIVER_IN: TypeAdapter[SrcToTrgtRiver | LogicRiver | ActionsRiver] = TypeAdapter(RiverIn)

#: Every accepted spelling of a river type, to the one Headwater answers with.
CANONICAL_TYPES = {
    "src_to_trgt": "src_to_trgt",
    "source_to_target": "src_to_trgt",
    "src_2_trgt": "src_to_trgt",
    "logic": "logic",
    "actions": "actions",
    "action": "actions",
}


class RiverMetadataOut(BaseModel):
    description: str
    river_status: str = Field(description="active | disabled")


class RiverOut(BaseModel):
    """The stored river: ``cross_id`` (= ``river_id``), status, timestamps, the rest as sent
    with defaults filled in and secrets masked."""

    cross_id: str
    river_id: str
    name: str
    type: str = Field(description="src_to_trgt | logic | actions")
    metadata: RiverMetadataOut
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


class Author(BaseModel):
    type: str = Field(description="user | token | system")
    id: str | None


class RiverVersionSummary(BaseModel):
    version_id: str
    version: int
    change: str = Field(description="created | updated | restored | variables")
    river_status: str
    created_at: datetime
    created_by: Author


class RiverVersionList(BaseModel):
    items: list[RiverVersionSummary]
    river_id: str
    current_version: int


class RiverVersionOut(RiverVersionSummary):
    river_id: str
    definition: dict[str, Any] = Field(description="The full definition, secrets masked.")


class RestoreIn(Strict):
    version_id: str


class RiverVariables(Strict):
    """Body of ``PUT E/rivers/{id}/variables`` (replaces them) and its answer (private values
    masked; sending the mask back keeps the stored value)."""

    variables: dict[str, RiverVariable]


class RiverDeleted(BaseModel):
    river_id: str
    deleted: bool = True
