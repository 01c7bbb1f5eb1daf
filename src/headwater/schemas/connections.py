"""Connections and the connection-type catalogue. Secret properties are shown only as a mask."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from headwater.schemas.common import SingleLine

#: Fields of a response a client may send back unchanged in a PUT; they are ignored.
READ_ONLY_CONNECTION_FIELDS = frozenset(
    {"connection_id", "cross_id", "_id", "account_id", "environment_id", "created_at", "updated_at"}
)


class ConnectionIn(BaseModel):
    """Body of ``POST E/connections`` and ``PUT E/connections/{id}`` (a full replacement).

    Sending a secret property's mask (``********``) back keeps the stored secret, so a client
    can GET, change a host and PUT without knowing the password.
    """

    model_config = ConfigDict(extra="forbid")

    connection_name: SingleLine = Field(min_length=1, max_length=200)
    connection_type: SingleLine = Field(min_length=1, max_length=64)
    properties: dict[str, Any] = Field(
        default_factory=dict, description="Per the type's catalogue entry; validated per type."
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_CONNECTION_FIELDS}
        return data

    @field_validator("connection_name")
    @classmethod
    def _strip(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the name must not be blank")
        return value.strip()


class ConnectionOut(BaseModel):
    connection_id: str
    cross_id: str = Field(description="Same as connection_id (the hosted API's name for it).")
    connection_name: str
    connection_type: str
    properties: dict[str, Any] = Field(description="Secret properties appear as `********`.")
    account_id: str
    environment_id: str
    created_at: datetime
    updated_at: datetime


class ConnectionList(BaseModel):
    items: list[ConnectionOut]


class ConnectionTestResult(BaseModel):
    ok: bool
    message: str | None = Field(default=None, description="Why the test failed; absent if ok.")


class ConnectionPropertyOut(BaseModel):
    name: str
    type: str = Field(description="string | integer | boolean | password | path")
    required: bool
    secret: bool
    default: Any = None
    description: str = ""
    choices: list[str] = Field(
        default_factory=list, description="The accepted values, when the property has a list."
    )


class ConnectionTypeOut(BaseModel):
    connection_type: str = Field(description="The value of `connection_type` in a connection.")
    name: str
    title: str
    description: str
    roles: list[str] = Field(description="`source`, `target` or both.")
    is_source: bool
    is_target: bool
    properties: list[ConnectionPropertyOut]


class ConnectionTypeList(BaseModel):
    items: list[ConnectionTypeOut]
