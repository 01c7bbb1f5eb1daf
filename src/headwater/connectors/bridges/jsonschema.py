"""A stream's JSON Schema as Headwater columns, and its records as Arrow batches.

Airbyte and Singer describe each stream with JSON Schema. Scalars map to Arrow types
(``integer`` -> int64, ``number`` -> float64, ``boolean`` -> bool, ``string`` with
``format: date-time`` -> timestamp, ``format: date`` -> date32); objects are kept as JSON text
or, with ``nested: flatten``, split into ``parent__child`` columns as the REST connector does;
arrays, unions of several types and schemaless fields are JSON text.

Records become batches through ``pa.RecordBatch.from_pylist`` (Arrow's C++ loop over the
dicts) on a carrier schema where timestamps and dates are text, cast afterwards: no Python loop
per value except for the JSON-text columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.base import Column
from headwater.connectors.errors import ValueRejected
from headwater.connectors.files.shape import SEPARATOR

NestedMode = Literal["json", "flatten"]
TIMESTAMP = pa.timestamp("us", tz="UTC")


def _types(schema: Mapping[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        names = [declared]
    elif isinstance(declared, list):
        names = [str(t) for t in declared]
    else:
        names = []
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key) or []:
            if isinstance(option, Mapping):
                names.extend(_types(option))
    return [n for n in dict.fromkeys(names) if n != "null"]


def _scalar(schema: Mapping[str, Any]) -> tuple[str, pa.DataType, str | None]:
    """``(source type, arrow type, semantic)`` of one field's schema."""
    kinds = _types(schema)
    if len(kinds) != 1:
        return "json", pa.string(), "json"
    kind = kinds[0]
    fmt = schema.get("format")
    airbyte_type = schema.get("airbyte_type")
    if kind == "integer" or airbyte_type == "integer":
        return "integer", pa.int64(), None
    if kind == "number":
        return "number", pa.float64(), None
    if kind == "boolean":
        return "boolean", pa.bool_(), None
    if kind == "string":
        if fmt == "date-time" and airbyte_type != "timestamp_without_timezone":
            return "timestamp", TIMESTAMP, None
        if fmt == "date-time":
            return "timestamp", pa.timestamp("us"), None
        if fmt == "date":
            return "date", pa.date32(), None
        return "string", pa.string(), None
    return "json", pa.string(), "json"


def _is_object(schema: Mapping[str, Any]) -> bool:
    return _types(schema) == ["object"] and isinstance(schema.get("properties"), Mapping)


def columns_for_schema(
    schema: Mapping[str, Any], *, nested: NestedMode, primary_key: Sequence[str] = ()
) -> tuple[Column, ...]:
    """Columns of a stream, in the order its schema lists them."""
    columns: list[Column] = []

    def visit(prefix: str, properties: Mapping[str, Any]) -> None:
        for name, field_schema in properties.items():
            if not isinstance(field_schema, Mapping):
                field_schema = {}
            full = f"{prefix}{name}"
            if nested == "flatten" and _is_object(field_schema) and field_schema["properties"]:
                visit(f"{full}{SEPARATOR}", field_schema["properties"])
                continue
            source_type, arrow_type, semantic = _scalar(field_schema)
            columns.append(
                Column(
                    name=full,
                    source_type=source_type,
                    arrow_type=arrow_type,
                    nullable=full not in primary_key,
                    primary_key=full in primary_key,
                    semantic=semantic,
                    dialect="jsonschema",
                )
            )

    properties = schema.get("properties")
    visit("", properties if isinstance(properties, Mapping) else {})
    return tuple(columns)


@dataclass(frozen=True)
class BatchBuilder:
    """Turns lists of record dicts into batches of ``columns`` (in that order)."""

    columns: tuple[Column, ...]
    nested: NestedMode
    where: str

    @property
    def flatten(self) -> bool:
        return self.nested == "flatten" and any(SEPARATOR in c.name for c in self.columns)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    def build(self, records: list[dict[str, Any]]) -> pa.RecordBatch:
        if self.flatten:
            records = [_flatten(r) for r in records]
        json_names = [c.name for c in self.columns if c.semantic == "json"]
        if json_names:
            for record in records:
                for name in json_names:
                    value = record.get(name)
                    if value is not None and not isinstance(value, str):
                        record[name] = orjson.dumps(value).decode()
        carrier = pa.schema(
            [
                pa.field(
                    c.name,
                    pa.string() if pa.types.is_temporal(c.arrow_type) else c.arrow_type,
                )
                for c in self.columns
            ]
        )
        try:
            batch = pa.RecordBatch.from_pylist(records, schema=carrier)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            batch = self._slow(records, carrier)
        arrays = []
        for column, array in zip(self.columns, batch.columns, strict=True):
            if array.type != column.arrow_type:
                array = self._cast(array, column)
            arrays.append(array)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _slow(self, records: list[dict[str, Any]], carrier: pa.Schema) -> pa.RecordBatch:
        """Column by column, naming the field whose values do not fit its declared type."""
        arrays = []
        for field in carrier:
            values = [r.get(field.name) for r in records]
            try:
                arrays.append(pa.array(values, type=field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                texts = [
                    None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
                    for v in values
                ]
                try:
                    arrays.append(pc.cast(pa.array(texts, pa.string()), field.type))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise ValueRejected(
                        f"{self.where}: field {field.name!r} has a value that does not match "
                        f"the stream's schema ({exc})"
                    ) from None
        return pa.RecordBatch.from_arrays(arrays, schema=carrier)

    def _cast(self, array: pa.Array, column: Column) -> pa.Array:
        try:
            return pc.cast(array, column.arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueRejected(
                f"{self.where}: field {column.name!r} has a value that is not a valid "
                f"{column.source_type} ({exc})"
            ) from None


def _flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def visit(prefix: str, value: Mapping[str, Any]) -> None:
        for key, item in value.items():
            if isinstance(item, dict) and item:
                visit(f"{prefix}{key}{SEPARATOR}", item)
            else:
                out[f"{prefix}{key}"] = item

    visit("", record)
    return out
