"""The declared shape of a connection body, one variant per connector type.

``POST``/``PUT E/connections`` take a plain JSON object and check ``properties`` against the
type's catalogue entry in ``services.connections`` (so a 422 never echoes a password). This
module says the same rules in ``/openapi.json``: a ``oneOf`` discriminated by
``connection_type``, each variant listing that connector's properties, which are required and
what values they take, so a generated client sends bodies the API accepts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import WithJsonSchema

from headwater.schemas.rivers_common import NOT_BLANK

if TYPE_CHECKING:
    from headwater.connectors.base import ConnectorSpec, PropertySpec

#: What ``services.connections._coerce`` accepts besides the JSON type itself.
INTEGER_TEXT = r"^ *-?[0-9]{1,18} *$"
BOOLEAN_TEXT = ["true", "false", "True", "False", "TRUE", "FALSE"]


def _value_schema(prop: PropertySpec, *, required: bool) -> dict[str, Any]:
    if prop.type == "integer":
        typed: list[dict[str, Any]] = [
            {"type": "integer"},
            {"type": "string", "pattern": INTEGER_TEXT},
        ]
    elif prop.type == "boolean":
        typed = [{"type": "boolean"}, {"type": "string", "enum": BOOLEAN_TEXT}]
    elif prop.choices:
        typed = [{"type": "string", "pattern": choices_pattern(prop.choices)}]
    else:
        typed = [{"type": "string", "minLength": 1} if required else {"type": "string"}]
    if not required:
        typed.append({"type": "null"})
    schema: dict[str, Any] = typed[0] if len(typed) == 1 else {"anyOf": typed}
    if prop.description:
        schema = {**schema, "description": prop.description}
    if prop.secret or prop.type == "password":
        schema = {**schema, "writeOnly": True}
    return schema


def choices_pattern(choices: Sequence[str]) -> str:
    """What ``services.connections`` accepts for a property with choices: one of them, in
    any case, with spaces around (it compares ``value.strip().lower()``)."""

    def word(choice: str) -> str:
        return "".join(
            f"[{c.lower()}{c.upper()}]" if c.isalpha() else c if c.isalnum() else f"[{c}]"
            for c in choice
        )

    return r"^\s*(" + "|".join(word(c) for c in choices) + r")\s*$"


def _is_required(prop: PropertySpec) -> bool:
    return prop.required and prop.default is None


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.replace("-", "_").split("_"))


def _properties_model(spec: ConnectorSpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for index, prop in enumerate(spec.properties):
        required = _is_required(prop)
        annotation = Annotated[Any, WithJsonSchema(_value_schema(prop, required=required))]
        # Field names are positional: a property may be called ``schema`` or ``json``.
        shown_default = None if prop.secret or prop.type == "password" else prop.default
        field = (
            Field(alias=prop.name) if required else Field(default=shown_default, alias=prop.name)
        )
        fields[f"p{index}"] = (annotation, field)
    model: type[BaseModel] = create_model(
        f"{_camel(spec.name)}ConnectionProperties",
        __config__=ConfigDict(extra="forbid", populate_by_name=False),
        **fields,
    )
    return model


def _connection_model(spec: ConnectorSpec) -> type[BaseModel]:
    properties = _properties_model(spec)
    needs_properties = any(_is_required(p) for p in spec.properties)
    fields: dict[str, Any] = {
        "connection_name": (
            str,
            Field(min_length=1, max_length=200, json_schema_extra={"pattern": NOT_BLANK}),
        ),
        "connection_type": (Literal[spec.name], ...),
        # Omitted means ``{}``; ``null`` is refused like any non-object.
        "properties": (properties, ...)
        if needs_properties
        else (properties, Field(default_factory=dict)),
    }
    model: type[BaseModel] = create_model(
        f"{_camel(spec.name)}Connection",
        __config__=ConfigDict(extra="forbid", title=f"{spec.title} connection"),
        **fields,
    )
    return model


def connection_body_union(specs: Sequence[ConnectorSpec]) -> Any:
    """``Annotated[Union[...], discriminator]`` of every connector type, for documentation."""
    models = tuple(_connection_model(spec) for spec in specs)
    return Annotated[Union[models], Field(discriminator="connection_type")]  # noqa: UP007
