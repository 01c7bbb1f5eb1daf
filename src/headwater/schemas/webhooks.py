"""Webhook requests and responses.

No response model has a field for the signing secret except ``WebhookCreated``, the answer to
the one request that creates it: afterwards the secret is only ever decrypted to sign.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import WithJsonSchema

from headwater.schemas.common import SingleLine
from headwater.schemas.rivers_common import NOT_BLANK
from headwater.vocabulary import WEBHOOK_EVENTS as EVENTS

Event = Literal[
    "run_group.succeeded",
    "run_group.failed",
    "run_group.canceled",
    "run_group.finished",
    "cdc.slot_lag",
]

EVENTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {"type": "string", "enum": list(get_args(Event))},
}
URL_MAX_LENGTH = 2000
SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 200


def check_url(value: str) -> str:
    """An absolute http(s) URL with a host and no credentials, else a ValueError saying why.

    Credentials in the URL are refused because the URL is shown to everyone who may list
    webhooks; receivers authenticate Headwater through the signature instead.
    """
    url = value.strip()
    if not url or len(url) > URL_MAX_LENGTH:
        raise ValueError(f"the URL must have 1 to {URL_MAX_LENGTH} characters")
    if any(ch.isspace() for ch in url):
        raise ValueError("the URL must not contain whitespace")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValueError("the URL is malformed") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError("the URL must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("the URL must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL must not contain credentials; verify the signature instead")
    return url


#: ``check_url`` as a pattern: http(s), a host without credentials, a port, no whitespace.
URL_PATTERN = (
    r"^([Hh][Tt][Tt][Pp][Ss]?)://[A-Za-z0-9.-]+(:[0-9]{1,4})?([/?#][^\s\x00-\x1f\x7f\x85]*)?$"
)
URL_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": URL_MAX_LENGTH,
    "pattern": URL_PATTERN,
}
#: ``_no_blank_edges``: no whitespace at either end.
SECRET_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": SECRET_MIN_LENGTH,
    "maxLength": SECRET_MAX_LENGTH,
    "pattern": r"^[^\s\x1c-\x1f\x85].*[^\s\x1c-\x1f\x85]$",
}
NAME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": NOT_BLANK,
}


def _present(schema: dict[str, Any]) -> WithJsonSchema:
    """A PATCH field: may be omitted, but ``null`` is refused (``WebhookUpdate._no_nulls``)."""
    return WithJsonSchema(schema)


def normalise_events(values: list[str]) -> list[str]:
    """Distinct events in catalogue order, so stored and shown lists compare equal."""
    return [event for event in EVENTS if event in set(values)]


class _WebhookFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("name", check_fields=False)
    @classmethod
    def _strip_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        stripped = value.strip()
        if not stripped:
            raise ValueError("the name must not be blank")
        return stripped

    @field_validator("url", check_fields=False)
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @field_validator("events", check_fields=False)
    @classmethod
    def _distinct_events(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else normalise_events(value)

    @field_validator("secret", check_fields=False)
    @classmethod
    def _no_blank_edges(cls, value: str | None) -> str | None:
        if value is not None and value != value.strip():
            raise ValueError("the secret must not start or end with whitespace")
        return value


class WebhookCreate(_WebhookFields):
    name: SingleLine = Field(
        min_length=1,
        max_length=200,
        description="A descriptive name.",
        json_schema_extra={"pattern": NOT_BLANK},
    )
    url: Annotated[SingleLine, WithJsonSchema(URL_SCHEMA)] = Field(
        description="The receiver: an http:// or https:// URL."
    )
    events: list[Event] = Field(min_length=1, description="Events to deliver.")
    is_enabled: bool = Field(default=True, description="Disabled webhooks receive nothing.")
    secret: Annotated[str | None, WithJsonSchema({"anyOf": [SECRET_SCHEMA, {"type": "null"}]})] = (
        Field(
            default=None,
            min_length=SECRET_MIN_LENGTH,
            max_length=SECRET_MAX_LENGTH,
            description="The signing secret; omitted: one is generated (``whsec_...``) and shown "
            "once in the response.",
        )
    )


class WebhookUpdate(_WebhookFields):
    """Fields to change; omitted fields keep their value, ``null`` is refused."""

    name: Annotated[SingleLine | None, _present(NAME_SCHEMA)] = Field(
        default=None, min_length=1, max_length=200
    )
    url: Annotated[SingleLine | None, _present(URL_SCHEMA)] = None
    events: Annotated[list[Event] | None, _present(EVENTS_SCHEMA)] = Field(
        default=None, min_length=1
    )
    is_enabled: Annotated[bool | None, _present({"type": "boolean"})] = Field(
        default=None,
        description="Disabling also fails the webhook's pending deliveries.",
    )
    secret: Annotated[str | None, _present(SECRET_SCHEMA)] = Field(
        default=None,
        min_length=SECRET_MIN_LENGTH,
        max_length=SECRET_MAX_LENGTH,
        description="A new signing secret, used from the next attempt on; never shown back.",
    )

    @model_validator(mode="after")
    def _no_nulls(self) -> WebhookUpdate:
        nulls = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} must not be null; omit a field to keep it")
        return self


class WebhookOut(BaseModel):
    """A webhook as the API shows it: never its secret."""

    webhook_id: str
    account_id: str
    environment_id: str
    name: str
    url: str
    events: list[str]
    is_enabled: bool
    created_at: datetime
    updated_at: datetime
    created_by: str | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret. Shown in this response only.")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class AttemptOut(BaseModel):
    """One HTTP request of a delivery."""

    number: int
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null on an error.")
    error: str | None = Field(description="Why the attempt failed; null when it succeeded.")
    duration_ms: int | None
    response_body: str | None = Field(description="The start of the receiver's answer.")


class DeliveryOut(BaseModel):
    """One event sent (or being sent) to one webhook, with every attempt so far."""

    delivery_id: str
    webhook_id: str
    event: str
    run_group_id: str | None = Field(description="Null for test pings.")
    redelivery_of: str | None
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is retried.")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The body, as sent without ``delivered_at``.")
    attempt_log: list[AttemptOut] = Field(description="Every attempt, oldest first.")
