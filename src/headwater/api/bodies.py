"""Request-body parsing for definitions that may hold secrets, and per-request helpers.

FastAPI's own validation echoes the offending input in a 422; for a missing field that input is
the whole parent object, password included. Bodies that can carry secrets are therefore taken
as plain JSON objects and validated here, with the same 422 shape but without echoing
containers, unknown fields or secret-looking values.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import PlainValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from headwater.api.deps import SettingsDep
from headwater.errors import InvalidInput
from headwater.security.crypto import SecretBox

T = TypeVar("T")


def shown_input(error: Any) -> Any:
    """What a 422 repeats of the offending input: nothing. The input may be a password (a
    secret-named field, a whole object, a ``text/plain`` or form body that is not JSON), or a
    value a JSON answer cannot hold (``1e999`` parses to ``inf``); ``loc`` and ``msg`` name
    the field and the problem."""
    del error
    return None


def _without_tag(loc: tuple[int | str, ...], tag: Any) -> tuple[int | str, ...]:
    """A discriminated union puts the tag (``logic``) first in ``loc``; clients want the field."""
    if loc and isinstance(tag, str) and loc[0] == tag:
        return loc[1:]
    return loc


def parse_body(adapter: TypeAdapter[T], raw: Any) -> T:
    """Validate ``raw`` with ``adapter``; a failure is FastAPI's 422 minus echoed secrets."""
    tag = raw.get("type") if isinstance(raw, dict) else None
    try:
        return adapter.validate_python(raw)
    except ValidationError as exc:
        errors = [
            {
                "type": e["type"],
                "loc": ("body", *_without_tag(e["loc"], tag)),
                "msg": e["msg"],
                "input": shown_input(e),
            }
            for e in exc.errors(include_url=False, include_context=False)
        ]
        raise RequestValidationError(errors) from None


def _json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
    return value


def documented_as(model: Any) -> PlainValidator:
    """Take a body as a plain JSON object but document it as ``model`` in ``/openapi.json``.

    ``body: Annotated[JsonObject, documented_as(RiverIn), Body()]`` keeps the hand
    validation above (``parse_body``, which does not echo secrets) while generated clients and
    the schema fuzzer see the real request shape instead of a free-form object.
    """
    return PlainValidator(_json_object, json_schema_input_type=model)


def get_box(settings: SettingsDep) -> SecretBox:
    return SecretBox.from_settings(settings)


BoxDep = Annotated[SecretBox, Depends(get_box)]


async def raw_json(request: Request) -> Any:
    """The body as JSON (empty: ``{}``), whatever its declared content type."""
    body = await request.body()
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("The request body is not valid JSON") from None


RawBody = Annotated[Any, Depends(raw_json)]
