"""What every river type shares: name, metadata, group, settings, schedule, notifications,
variables. Request models forbid unknown fields so a typo is a 422, not a silently ignored key.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from croniter import croniter
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

from headwater.ids import OBJECT_ID_PATTERN, is_object_id
from headwater.schemas.common import SingleLine
from headwater.schemas.cron import DEFAULT_ZONE, checked_zone

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Fields of a river response a client may send back unchanged in a PUT; they are ignored.
READ_ONLY_RIVER_FIELDS = frozenset(
    {
        "cross_id",
        "river_id",
        "_id",
        "account_id",
        "environment_id",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
        "version",
    }
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _object_id(value: str) -> str:
    if not is_object_id(value):
        raise ValueError("must be a 24-character lowercase hex id")
    return value


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(
            "must be a variable name: letters, digits and _, not starting with a digit"
        )
    return value


#: The declared shape of the checks above, so ``/openapi.json`` says what validation does.
OBJECT_ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": OBJECT_ID_PATTERN.pattern}
IDENTIFIER_SCHEMA: dict[str, Any] = {"type": "string", "pattern": IDENTIFIER.pattern}
ObjectId = Annotated[str, AfterValidator(_object_id), WithJsonSchema(OBJECT_ID_SCHEMA)]
VariableName = Annotated[str, AfterValidator(_identifier), WithJsonSchema(IDENTIFIER_SCHEMA)]
Scalar = str | int | float | bool
VariableValue = Scalar | list[Scalar] | None


class PrivateVariable(BaseModel):
    """A river variable given as an object: ``{"value": ..., "is_private": true}`` is encrypted
    at rest, masked in every answer, opened for runs only (see ``services.river_secrets``);
    ``"raw": true`` splices the value verbatim into SQL and URLs (``runner.sql_render``), an
    opt-in only a principal that can write the river or its variables can make."""

    model_config = ConfigDict(extra="forbid")

    value: VariableValue = None
    is_private: bool = Field(
        default=False, description="Encrypted at rest and shown as ******** in every response."
    )
    raw: bool = Field(
        default=False,
        description="Inserted verbatim into SQL and URLs instead of as a quoted value (a table "
        "name, a SQL fragment, a base URL). Run parameters can never set a raw variable.",
    )

    @model_serializer(mode="wrap")
    def _without_default_raw(self, handler: SerializerFunctionWrapHandler) -> Any:
        """``raw`` only where it is set: stored definitions and answers keep their shape."""
        data = handler(self)
        if isinstance(data, dict) and not self.raw:
            data.pop("raw", None)
        return data


RiverVariable = VariableValue | PrivateVariable


def variable_values(variables: dict[str, RiverVariable]) -> dict[str, VariableValue]:
    """Plain values by name (a private one's value as it is: sealed, masked or open)."""
    return {name: v.value if isinstance(v, PrivateVariable) else v for name, v in variables.items()}


def private_variable_names(variables: dict[str, RiverVariable]) -> set[str]:
    return {
        name for name, v in variables.items() if isinstance(v, PrivateVariable) and v.is_private
    }


def raw_variable_names(variables: dict[str, RiverVariable]) -> set[str]:
    """Variables declared ``"raw": true`` (spliced verbatim into SQL and URLs)."""
    return {name for name, v in variables.items() if isinstance(v, PrivateVariable) and v.raw}


class RiverMetadata(Strict):
    description: str = Field(default="", max_length=5000)
    river_status: Literal["active", "disabled"] | None = Field(
        default=None,
        description="Status at creation (default active); on update it is ignored: use "
        "activate_river / disable_river.",
    )


class RiverSettings(Strict):
    run_timeout_seconds: int = Field(
        default=3600,
        ge=1,
        le=7 * 24 * 3600,
        description="A run still going after this fails (not a continuous change capture "
        "river's: it runs until canceled or disabled).",
    )
    parallel_partitions: int | None = Field(
        default=None, ge=1, le=64, description="Source-to-target: read a table in N key ranges."
    )
    retry_attempts: int = Field(
        default=0,
        ge=0,
        le=10,
        description="Extra attempts after a transient error (connection reset, deadlock); "
        "each attempt is logged.",
    )
    retry_delay_seconds: float = Field(
        default=2.0,
        ge=0,
        le=300,
        description="Wait before the first retry; each further retry waits twice as long "
        "(at most 300 s), so a source that restarts is back when the retry comes.",
    )


#: The shape of a 5-field cron expression; the values' ranges are checked by croniter.
CRON_SHAPE = r"^ *[-0-9A-Za-z*,/?#]+( +[-0-9A-Za-z*,/?#]+){4} *$"


class Scheduler(Strict):
    """One 5-field cron expression, read on the wall clock of ``timezone`` (see
    ``schemas.cron``: the scheduler and the console's preview use the same function)."""

    cron_expression: str = Field(json_schema_extra={"pattern": CRON_SHAPE})
    is_enabled: bool = True
    timezone: str = Field(
        default=DEFAULT_ZONE,
        max_length=64,
        description="IANA time zone the cron expression is read in (default UTC), "
        "e.g. Europe/Paris; daylight saving time is followed.",
    )

    @field_validator("cron_expression")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return checked_cron(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return checked_zone(value)

    @model_serializer(mode="wrap")
    def _without_default_zone(self, handler: SerializerFunctionWrapHandler) -> Any:
        """``timezone`` only where it is not UTC: definitions saved before time zones keep
        their shape."""
        data = handler(self)
        if isinstance(data, dict) and self.timezone == DEFAULT_ZONE:
            data.pop("timezone", None)
        return data


#: A schedule must fire at least once within this many years (29 February fires every 4).
CRON_HORIZON_YEARS = 5


def checked_cron(value: str, *, now: datetime | None = None) -> str:
    """The normalised expression, or ``ValueError`` when it is malformed or never fires.

    ``croniter.is_valid`` accepts day/month pairs that never occur (``0 0 31 2 *``); a
    schedule like that used to be saved and then failed every scheduler tick, so every path
    that saves a schedule (v1 and legacy river APIs, ``headwater apply``, the console) checks
    through this one function that a next fire time exists within ``CRON_HORIZON_YEARS``.
    """
    expression = " ".join(value.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise ValueError(
            f"{value!r} is not a valid 5-field cron expression (minute hour day month weekday)"
        )
    start = now or datetime.now(UTC)
    try:
        croniter(expression, start, max_years_between_matches=CRON_HORIZON_YEARS).get_next(datetime)
    except (ValueError, KeyError, OverflowError) as exc:  # CroniterError is a ValueError
        raise ValueError(
            f"{value!r} never fires: no date within {CRON_HORIZON_YEARS} years matches it "
            "(is the day of month past the end of the month, e.g. 31 February?)"
        ) from exc
    return expression


#: What ``NotificationTarget._emails`` accepts: an ``@``, no space, no surrounding whitespace.
EMAIL_LIKE = r"^[^\s\x00-\x1f\x7f\x85]*@[^\s\x00-\x1f\x7f\x85]*$"


class NotificationTarget(Strict):
    emails: list[Annotated[str, Field(json_schema_extra={"pattern": EMAIL_LIKE})]] = Field(
        default_factory=list
    )
    webhook: bool = Field(default=False, description="Also notify the environment's webhooks.")

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if "@" not in email or email.strip() != email or " " in email:
                raise ValueError(f"{email!r} is not an e-mail address")
        return value


class Notifications(Strict):
    on_failure: NotificationTarget = Field(default_factory=NotificationTarget)
    on_success: NotificationTarget = Field(default_factory=NotificationTarget)


#: A name: no control character anywhere (``schemas.common.single_line``) and not only
#: whitespace (validators strip it; Python's whitespace is wider than JSON Schema's ``\s``).
NOT_BLANK = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f\x85][^\x00-\x1f\x7f]*$"


class RiverBase(Strict):
    name: SingleLine = Field(min_length=1, max_length=200, json_schema_extra={"pattern": NOT_BLANK})
    metadata: RiverMetadata = Field(default_factory=RiverMetadata)
    group_id: ObjectId | None = None
    settings: RiverSettings = Field(default_factory=RiverSettings)
    schedulers: list[Scheduler] = Field(default_factory=list, max_length=1)
    notifications: Notifications = Field(default_factory=Notifications)
    variables: dict[str, RiverVariable] = Field(
        default_factory=dict,
        json_schema_extra={"propertyNames": IDENTIFIER_SCHEMA},
        description="River variables, referenced as {name}: a value, a list of values, or "
        '{"value": ..., "is_private": true} for a private one (encrypted, always masked).',
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_read_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k not in READ_ONLY_RIVER_FIELDS}
        return data

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the name must not be blank")
        return value.strip()

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, value: dict[str, RiverVariable]) -> dict[str, RiverVariable]:
        return checked_variables(value)


def checked_variables(value: dict[str, RiverVariable]) -> dict[str, RiverVariable]:
    """Valid names; ``{"value": v, "is_private": false}`` becomes the plain ``v``."""
    for name in value:
        if not IDENTIFIER.match(name):
            raise ValueError(f"{name!r} is not a valid variable name (letters, digits, _)")
    return {
        name: v.value if isinstance(v, PrivateVariable) and not (v.is_private or v.raw) else v
        for name, v in value.items()
    }
