"""Account users: requests and responses (a password hash never leaves the store)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from headwater.schemas.common import SINGLE_LINE_PATTERN, SingleLine

Role = Literal["admin", "member"]
#: ``services.users.normalise_email`` (which strips and lower-cases first) as a pattern.
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f\x85]+@[^@\s\x00-\x1f\x7f\x85]+\.[^@\s\x00-\x1f\x7f\x85]+$"


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: SingleLine = Field(
        min_length=3, max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN}
    )
    name: SingleLine = Field(
        default="", max_length=200, json_schema_extra={"pattern": SINGLE_LINE_PATTERN}
    )
    role: Role = "member"
    password: str | None = Field(
        default=None,
        min_length=8,
        max_length=200,
        description="Omitted: a random password is generated and returned once.",
    )


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    name: SingleLine | None = Field(default=None, max_length=200)


class UserOut(BaseModel):
    id: str
    account_id: str
    email: str
    name: str
    role: str
    is_active: bool
    created_at: datetime


class UserCreated(UserOut):
    generated_password: str | None = Field(
        default=None, description="Set only when the request chose no password; shown once."
    )


class UserList(BaseModel):
    items: list[UserOut]
