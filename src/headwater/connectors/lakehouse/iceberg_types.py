"""Iceberg schemas as Headwater columns and back (pyiceberg's conversions, plus semantics).

A column's ``source_type`` is the Iceberg type name (``long``, ``decimal(38, 10)``,
``timestamptz``), with ``(json)``-style semantics appended; ``type_for`` gives the same text
for a source column, so the engine's drift check compares like with like. Semantics live in
the table property ``headwater.semantics`` (a JSON object of column to semantic).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa

from headwater.connectors.base import Column
from headwater.connectors.errors import ConfigurationError
from headwater.connectors.lakehouse.common import column_for, storage_type
from headwater.connectors.partitioning import parse_partition_field

SEMANTICS_PROPERTY = "headwater.semantics"


def plain(arrow_type: pa.DataType) -> pa.DataType:
    """Large Arrow types as their plain forms (pyiceberg reads strings as ``large_string``)."""
    types = pa.types
    if types.is_large_string(arrow_type):
        return pa.string()
    if types.is_large_binary(arrow_type):
        return pa.binary()
    if types.is_list(arrow_type) or types.is_large_list(arrow_type):
        return pa.list_(plain(arrow_type.value_type))
    if types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz="UTC" if arrow_type.tz else None)
    return arrow_type


def arrow_schema(iceberg_schema: Any) -> pa.Schema:
    """The plain Arrow schema of an Iceberg schema, in its column order."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    raw = schema_to_pyarrow(iceberg_schema, include_field_ids=False)
    return pa.schema([pa.field(f.name, plain(f.type)) for f in raw])


def iceberg_type(arrow_type: pa.DataType) -> Any:
    """The Iceberg type pyiceberg makes of an Arrow type."""
    from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids

    return (
        _pyarrow_to_schema_without_ids(pa.schema([pa.field("c", arrow_type)])).fields[0].field_type
    )


def type_text(column: Column, what: str) -> str:
    text = str(iceberg_type(storage_type(column, what)))
    return f"{text} ({column.semantic})" if column.semantic else text


def semantics_of(properties: Mapping[str, str]) -> dict[str, str]:
    try:
        data = json.loads(properties.get(SEMANTICS_PROPERTY) or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def table_columns(table: Any) -> tuple[Column, ...]:
    """Catalogue columns of a pyiceberg table (identifier fields are the primary key)."""
    schema = table.schema()
    semantics = semantics_of(table.properties)
    keys = {schema.find_column_name(i) for i in schema.identifier_field_ids}
    columns = []
    for field, nested in zip(arrow_schema(schema), schema.fields, strict=True):
        column = column_for(field, semantics.get(field.name), str(nested.field_type))
        if field.name in keys:
            column = replace(column, primary_key=True, nullable=False)
        columns.append(column)
    return tuple(columns)


def partition_fields(
    fields: Sequence[str], names: list[str], what: str
) -> list[tuple[str, Any, str]]:
    """``(source column, transform, partition name)`` for partition fields such as
    ``day(created_at)``, ``bucket(16, id)``, ``country`` (``connectors.partitioning``)."""
    from pyiceberg.transforms import parse_transform

    out: list[tuple[str, Any, str]] = []
    for text in fields:
        field = parse_partition_field(text, f"{what}: partition_by")
        if field.column not in names:
            raise ConfigurationError(
                f"{what}: partition_by column {field.column!r} is not among the loaded columns "
                f"({', '.join(names)}); select it or change partition_by"
            )
        if field.name in {name for _, _, name in out}:
            raise ConfigurationError(
                f"{what}: partition_by has two fields named {field.name!r} (one transform per "
                "column: e.g. bucket(4, id) and bucket(8, id) clash)"
            )
        width = f"[{field.width}]" if field.width is not None else ""
        out.append((field.column, parse_transform(f"{field.transform}{width}"), field.name))
    return out
