"""Delta schemas as Headwater columns and back.

Delta has no time-of-day type: a ``time`` column is stored as ``long`` microseconds since
midnight, with ``headwater.arrow_type = time64[us]`` in the column's Delta metadata so the
Delta source gives a time back. Semantics (json, uuid, exact decimal text, enum) are column
metadata too (``headwater.semantic``), so they live in the table's schema itself.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from headwater.connectors.base import Column
from headwater.connectors.lakehouse.common import SEMANTIC_KEY, column_for

ARROW_TYPE_KEY = "headwater.arrow_type"
_RESTORED = {"time64[us]": pa.time64("us")}


def delta_field(field: pa.Field, semantic: str | None) -> pa.Field:
    """The field as Delta stores it, with the metadata that restores it."""
    metadata = {SEMANTIC_KEY: semantic} if semantic else {}
    arrow_type = field.type
    if pa.types.is_time(arrow_type):
        metadata[ARROW_TYPE_KEY] = "time64[us]"
        arrow_type = pa.int64()
    return pa.field(field.name, arrow_type, metadata=metadata or None)


def to_stored(array: pa.Array, field: pa.Field) -> pa.Array:
    """An array of the loaded type as Delta stores it (time as microseconds)."""
    if pa.types.is_time(array.type) and pa.types.is_int64(field.type):
        return array.cast(pa.time64("us")).view(pa.int64())
    return array


def type_text(delta_type: Any) -> str:
    """``long``, ``decimal(12,2)``, ``array<integer>``... from Delta's JSON type."""
    if isinstance(delta_type, str):
        return delta_type
    kind = delta_type.get("type")
    if kind == "array":
        return f"array<{type_text(delta_type['elementType'])}>"
    if kind == "map":
        return f"map<{type_text(delta_type['keyType'])},{type_text(delta_type['valueType'])}>"
    if kind == "struct":
        inner = ",".join(f"{f['name']}:{type_text(f['type'])}" for f in delta_type["fields"])
        return f"struct<{inner}>"
    return str(kind)


def schema_json(schema: pa.Schema) -> list[dict[str, Any]]:
    from deltalake import Schema as DeltaSchema

    fields: list[dict[str, Any]] = json.loads(DeltaSchema.from_arrow(schema).to_json())["fields"]
    return fields


def plain(arrow_type: pa.DataType) -> pa.DataType:
    types = pa.types
    if types.is_large_string(arrow_type) or types.is_string_view(arrow_type):
        return pa.string()
    if types.is_large_binary(arrow_type) or types.is_binary_view(arrow_type):
        return pa.binary()
    if (
        types.is_list(arrow_type)
        or types.is_large_list(arrow_type)
        or types.is_list_view(arrow_type)
    ):
        return pa.list_(plain(arrow_type.value_type))
    if types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz="UTC" if arrow_type.tz else None)
    return arrow_type


def stored_schema(table: Any) -> pa.Schema:
    """The Arrow schema the table's files hold (plain types, Delta metadata kept)."""
    raw = pa.schema(table.schema().to_arrow())
    described = json.loads(table.schema().to_json())["fields"]
    return pa.schema(
        [
            pa.field(f.name, plain(f.type), metadata=d.get("metadata") or None)
            for f, d in zip(raw, described, strict=True)
        ]
    )


def table_columns(table: Any) -> tuple[Column, ...]:
    described = json.loads(table.schema().to_json())["fields"]
    columns = []
    for field, desc in zip(stored_schema(table), described, strict=True):
        metadata = desc.get("metadata") or {}
        restored = _RESTORED.get(metadata.get(ARROW_TYPE_KEY, ""))
        if restored is not None:
            field = pa.field(field.name, restored)
        columns.append(column_for(field, metadata.get(SEMANTIC_KEY), type_text(desc["type"])))
    return tuple(columns)
