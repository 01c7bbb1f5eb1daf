"""``GET /api/me`` (who the caller is) and the scope catalogue."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MeOut(BaseModel):
    """The fields ``rivery-cli`` reads (``account_id``, ``environment_id``) and a few more."""

    account_id: str
    account_name: str
    environment_id: str = Field(description="The default environment the caller may use.")
    environment_name: str
    environment_ids: list[str] = Field(description="Every environment the caller may use.")
    token_id: str | None
    token_name: str | None
    user_id: str | None
    scopes: list[str]
    plan: str


class ScopeOut(BaseModel):
    name: str
    description: str


class ScopeList(BaseModel):
    items: list[ScopeOut]
