"""API token requests and responses. No response model has a field for the secret except
``ApiTokenCreated``, the answer to the one request that creates it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from headwater.schemas.common import SingleLine
from headwater.schemas.rivers_common import NOT_BLANK, OBJECT_ID_SCHEMA
from headwater.security.scopes import SCOPES, unknown_scopes


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLine = Field(
        min_length=1,
        max_length=200,
        description="A descriptive name.",
        json_schema_extra={"pattern": NOT_BLANK},
    )
    scopes: list[str] = Field(
        min_length=1,
        description="Scopes from `GET /v1/scopes`.",
        json_schema_extra={"items": {"type": "string", "enum": list(SCOPES)}},
    )
    environment_ids: list[str] | None = Field(
        default=None,
        description="Environments the token may use; omitted or null: all of the account's, "
        "including environments created later.",
        json_schema_extra={"items": OBJECT_ID_SCHEMA},
    )

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise ValueError("the name must not be blank")
        return stripped

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: list[str]) -> list[str]:
        unknown = unknown_scopes(value)
        if unknown:
            raise ValueError(f"Unknown scopes: {', '.join(unknown)}")
        return value


class TokenCreator(BaseModel):
    user_id: str
    email: str
    name: str


class ApiTokenOut(BaseModel):
    """What an admin sees of a token: never its secret."""

    id: str
    name: str
    scopes: list[str]
    environment_ids: list[str] | None = Field(
        description="Granted environments; null means every environment of the account."
    )
    display_prefix: str = Field(description="The token's first characters, to recognise it.")
    created_at: datetime
    created_by: str | None
    creator: TokenCreator | None = Field(description="Null when the creating user was deleted.")
    last_used_at: datetime | None
    expires_at: datetime | None = Field(
        description="Null unless a move to the starter plan set an end to the token."
    )


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="The secret. Shown in this response only; store it now.")


class ApiTokenList(BaseModel):
    items: list[ApiTokenOut]
