"""Action rivers: one HTTP request definition (auth, pagination, retries), whose response sets
variables (by JSON path) and/or loads a target table.

Secret auth fields (``password``, ``token``, ``value``, ``client_secret``) are encrypted at rest
and masked in responses (see ``services.river_secrets``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from headwater.schemas.common import SingleLine
from headwater.schemas.rivers_common import ObjectId, RiverBase, Scalar, Strict, VariableName

#: A header name: RFC 9110 token characters.
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: An action's header name: token characters and ``{variable}`` references (the rendered name
#: is checked again when the request is built, ``runner.variables.checked_header``).
ACTION_HEADER_NAME = re.compile(r"^(?:[!#$%&'*+.^_`|~0-9A-Za-z-]|\{[A-Za-z_][A-Za-z0-9_]*\})+$")

#: Secret fields per auth type: encrypted at rest, masked in every response.
AUTH_SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "basic": ("password",),
    "bearer": ("token",),
    "api_key": ("value",),
    "oauth2_client_credentials": ("client_secret",),
}


def _when(field: str, value: str, then: dict[str, Any], *, default: bool = False) -> dict[str, Any]:
    """JSON Schema ``if field == value then ...`` (``default``: also when the field is absent)."""
    condition: dict[str, Any] = {"properties": {field: {"const": value}}}
    if not default:
        condition["required"] = [field]
    return {"if": condition, "then": then}


#: ``RequestBody._content_fits`` in JSON Schema.
CONTENT_FITS_TYPE: dict[str, Any] = {
    "allOf": [
        _when(
            "type", "form", {"required": ["content"], "properties": {"content": {"type": "object"}}}
        ),
        _when("type", "none", {"properties": {"content": {"type": "null"}}}, default=True),
    ]
}
#: ``Pagination._needed_fields`` in JSON Schema.
PAGINATION_NEEDS: dict[str, Any] = {
    "allOf": [
        _when(
            "type",
            kind,
            {
                "required": list(fields),
                "properties": {name: {"not": {"type": "null"}} for name in fields},
            },
        )
        for kind, fields in (
            ("page", ("page_param",)),
            ("offset", ("offset_param", "page_size")),
            ("cursor", ("cursor_param", "cursor_path")),
        )
    ]
}


class RequestBody(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra=CONTENT_FITS_TYPE)

    type: Literal["none", "json", "form"] = "none"
    content: Any = Field(default=None, description="JSON value, or an object of form fields.")

    @model_validator(mode="after")
    def _content_fits(self) -> RequestBody:
        if self.type == "form" and not isinstance(self.content, dict):
            raise ValueError("a form body needs an object of field names to values")
        if self.type == "none" and self.content is not None:
            raise ValueError("body type 'none' takes no content")
        return self


class HttpRequest(Strict):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: SingleLine = Field(
        min_length=1, json_schema_extra={"pattern": r"^(https?://|\{)[^\x00-\x1f\x7f]*$"}
    )
    query: dict[str, Scalar] = Field(default_factory=dict)
    headers: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra={
            "propertyNames": {"pattern": ACTION_HEADER_NAME.pattern},
            "additionalProperties": {"type": "string", "pattern": r"^[^\r\n\x00]*$"},
        },
    )
    body: RequestBody = Field(default_factory=RequestBody)

    @field_validator("headers")
    @classmethod
    def _header_lines(cls, value: dict[str, str]) -> dict[str, str]:
        """A header that cannot be sent fails here, at save, not at the first run."""
        for name, text in value.items():
            if not ACTION_HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if any(c in text for c in "\r\n\x00"):
                raise ValueError(f"the value of header {name!r} has a line break or NUL")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "{")):
            raise ValueError("must be an http:// or https:// URL (or start with a {variable})")
        return value


class NoAuth(Strict):
    # A discriminated union needs the tag even where the model has a default.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"required": ["type"]})

    type: Literal["none"] = "none"


class BasicAuth(Strict):
    type: Literal["basic"]
    username: SingleLine
    password: str


class BearerAuth(Strict):
    type: Literal["bearer"]
    token: str = Field(min_length=1)


class ApiKeyAuth(Strict):
    type: Literal["api_key"]
    name: SingleLine = Field(min_length=1, description="Header or query parameter name.")
    value: str = Field(min_length=1)
    location: Literal["header", "query"] = "header"


class OAuth2ClientCredentials(Strict):
    type: Literal["oauth2_client_credentials"]
    token_url: SingleLine = Field(min_length=1)
    client_id: SingleLine = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    scope: str | None = None
    audience: str | None = None


Auth = Annotated[
    NoAuth | BasicAuth | BearerAuth | ApiKeyAuth | OAuth2ClientCredentials,
    Field(discriminator="type"),
]


class Pagination(Strict):
    """How to fetch the next page: by page number, offset, a cursor from the body, or the
    ``Link: rel="next"`` header. Requests stop at an empty page or after ``max_pages``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=PAGINATION_NEEDS)

    type: Literal["none", "page", "offset", "cursor", "link_header"] = "none"
    page_param: str | None = None
    start_page: int = 1
    size_param: str | None = None
    page_size: int | None = Field(default=None, ge=1)
    offset_param: str | None = None
    cursor_param: str | None = None
    cursor_path: str | None = Field(default=None, description="JSON path of the next cursor.")
    max_pages: int = Field(default=100, ge=1, le=100_000)

    @model_validator(mode="after")
    def _needed_fields(self) -> Pagination:
        needs = {
            "page": ("page_param",),
            "offset": ("offset_param", "page_size"),
            "cursor": ("cursor_param", "cursor_path"),
        }.get(self.type, ())
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"pagination type {self.type!r} needs {', '.join(missing)}")
        return self


class Retries(Strict):
    max_attempts: int = Field(default=3, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, le=300)
    retry_on_status: list[int] = Field(default_factory=lambda: [429, 500, 502, 503, 504])


class ResponseVariable(Strict):
    name: VariableName
    path: str = Field(min_length=1, description="JSON path into the response, e.g. $.data.id")


class ResponseTarget(Strict):
    connection_id: ObjectId
    schema_name: str | None = None
    table: str = Field(min_length=1)
    records_path: str = Field(default="$", description="JSON path of the list of records.")
    loading_method: Literal["overwrite", "append"] = "append"


class ActionResponse(Strict):
    variables: list[ResponseVariable] = Field(default_factory=list)
    target: ResponseTarget | None = None


class ActionProperties(Strict):
    request: HttpRequest
    auth: Auth = Field(default_factory=NoAuth)
    pagination: Pagination = Field(default_factory=Pagination)
    retries: Retries = Field(default_factory=Retries)
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    response: ActionResponse = Field(default_factory=ActionResponse)


class ActionsRiver(RiverBase):
    type: Literal["actions", "action"]
    properties: ActionProperties
