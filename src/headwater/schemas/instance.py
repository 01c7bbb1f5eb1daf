"""Instance admin requests and responses: accounts (tenants) of the installation."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from headwater.schemas.accounts import Plan
from headwater.schemas.common import SingleLine
from headwater.schemas.rivers_common import NOT_BLANK
from headwater.schemas.users import EMAIL_PATTERN


def _stripped(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    if not cleaned:
        raise ValueError("the name must not be blank")
    return cleaned


class InstanceAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLine = Field(
        min_length=1,
        max_length=200,
        description="The account's name.",
        json_schema_extra={"pattern": NOT_BLANK},
    )
    admin_email: SingleLine = Field(
        min_length=3,
        max_length=320,
        description="E-mail (login) of the account's first admin.",
        json_schema_extra={"pattern": EMAIL_PATTERN},
    )
    admin_password: str | None = Field(
        default=None,
        min_length=8,
        max_length=200,
        description="Omitted: a random password is generated and returned once.",
    )
    plan: Plan = "pro"

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str | None) -> str | None:
        return _stripped(value)


class InstanceAccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SingleLine | None = Field(
        default=None, min_length=1, max_length=200, json_schema_extra={"pattern": NOT_BLANK}
    )
    plan: Plan | None = None
    disabled: bool | None = Field(
        default=None,
        description="true: the account's tokens and console logins stop working and its "
        "schedules pause; false: enabled again.",
    )

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str | None) -> str | None:
        return _stripped(value)


class InstanceAccountOut(BaseModel):
    id: str
    name: str
    plan: str
    created_at: datetime
    disabled: bool
    disabled_at: datetime | None
    default_environment_id: str | None
    users: int = Field(description="How many users the account has.")
    admin_emails: list[str]


class InstanceAccountCreated(InstanceAccountOut):
    admin_id: str
    generated_password: str | None = Field(
        default=None, description="Set only when the request chose no password; shown once."
    )


class InstanceAccountList(BaseModel):
    items: list[InstanceAccountOut]
