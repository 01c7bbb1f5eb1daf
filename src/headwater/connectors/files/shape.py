"""Column types for schemaless sources (files, JSON APIs): inference, overrides, reshaping.

Files and APIs carry no catalogue, so their columns are inferred from a sample and may be
overridden by name (``columns: {id: integer, price: "decimal(12,2)"}``). Inferred types are
normalised (microsecond timestamps, strings for all-null columns) so every batch of a read,
from every file, can be cast to one schema; a value that does not fit fails with the column
name instead of a driver message. Nested values are either kept as JSON text (portable to every
target) or flattened into ``parent__child`` columns.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.base import Column
from headwater.connectors.errors import ConfigurationError, ValueRejected

NestedMode = Literal["json", "flatten"]
DIALECT = "arrow"
SEPARATOR = "__"

_NAMED: dict[str, tuple[pa.DataType, str | None]] = {
    "string": (pa.string(), None),
    "text": (pa.string(), None),
    "integer": (pa.int64(), None),
    "int": (pa.int64(), None),
    "bigint": (pa.int64(), None),
    "int32": (pa.int32(), None),
    "float": (pa.float64(), None),
    "double": (pa.float64(), None),
    "number": (pa.float64(), None),
    "boolean": (pa.bool_(), None),
    "bool": (pa.bool_(), None),
    "date": (pa.date32(), None),
    "timestamp": (pa.timestamp("us"), None),
    "timestamptz": (pa.timestamp("us", tz="UTC"), None),
    "json": (pa.string(), "json"),
}
_DECIMAL = re.compile(r"^decimal\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def encode_schema(schema: pa.Schema) -> str:
    """An Arrow schema as text (the file target's manifest keeps it this way)."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode()


def decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def parse_type(text: str, where: str) -> tuple[pa.DataType, str | None]:
    """An override type name as ``(arrow type, semantic)``; unknown names are a config error."""
    name = str(text).strip().lower()
    if name in _NAMED:
        return _NAMED[name]
    match = _DECIMAL.match(name)
    if match:
        precision, scale = int(match[1]), int(match[2])
        if 0 < precision <= 38 and scale <= precision:
            return pa.decimal128(precision, scale), None
    known = ", ".join([*_NAMED, "decimal(p,s)"])
    raise ConfigurationError(f"{where}: unknown column type {text!r} (known: {known})")


def parse_overrides(raw: Any, where: str) -> dict[str, tuple[pa.DataType, str | None]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{where}: 'columns' must map column names to types")
    return {str(k): parse_type(str(v), f"{where} column {k!r}") for k, v in raw.items()}


def normalise_type(arrow_type: pa.DataType) -> pa.DataType:
    """The carrier type for an inferred type: us timestamps, strings for null/large types."""
    types = pa.types
    if types.is_null(arrow_type):
        return pa.string()
    if types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz=arrow_type.tz)
    if types.is_large_string(arrow_type) or types.is_dictionary(arrow_type):
        return pa.string()
    if types.is_large_binary(arrow_type):
        return pa.binary()
    if types.is_time32(arrow_type):
        return pa.time64("us")
    if types.is_date64(arrow_type):
        return pa.date32()
    return arrow_type


def is_nested(arrow_type: pa.DataType) -> bool:
    types = pa.types
    return bool(
        types.is_struct(arrow_type)
        or types.is_list(arrow_type)
        or types.is_large_list(arrow_type)
        or types.is_map(arrow_type)
        or types.is_fixed_size_list(arrow_type)
    )


def make_column(
    name: str, arrow_type: pa.DataType, semantic: str | None = None, primary_key: bool = False
) -> Column:
    return Column(
        name=name,
        source_type=str(arrow_type) if semantic is None else semantic,
        arrow_type=arrow_type,
        semantic=semantic,
        primary_key=primary_key,
        dialect=DIALECT,
        nullable=not primary_key,
    )


def shaped_fields(schema: pa.Schema, nested: NestedMode) -> list[tuple[str, pa.DataType, bool]]:
    """``(name, type, is_json)`` of the columns a raw schema becomes under ``nested``."""
    out: list[tuple[str, pa.DataType, bool]] = []

    def visit(prefix: str, field: pa.Field) -> None:
        name = f"{prefix}{field.name}"
        if nested == "flatten" and pa.types.is_struct(field.type) and field.type.num_fields:
            for child in field.type:
                visit(f"{name}{SEPARATOR}", child)
        elif is_nested(field.type):
            out.append((name, pa.string(), True))
        else:
            out.append((name, normalise_type(field.type), False))

    for field in schema:
        visit("", field)
    return out


def columns_for(
    schema: pa.Schema,
    *,
    nested: NestedMode,
    overrides: Mapping[str, tuple[pa.DataType, str | None]],
    primary_key: Sequence[str] = (),
    where: str,
) -> tuple[Column, ...]:
    """Columns for an inferred raw schema, with overrides applied and checked."""
    columns: list[Column] = []
    for name, arrow_type, as_json in shaped_fields(schema, nested):
        semantic = "json" if as_json else None
        if name in overrides:
            arrow_type, semantic = overrides[name]
        columns.append(make_column(name, arrow_type, semantic, name in primary_key))
    names = {c.name for c in columns}
    unknown = sorted((set(overrides) | set(primary_key)) - names)
    if unknown:
        raise ConfigurationError(
            f"{where}: column(s) {', '.join(map(repr, unknown))} named in the options are not "
            f"in the data (found: {', '.join(sorted(names)) or 'none'})"
        )
    if not columns:
        raise ConfigurationError(f"{where}: no columns found")
    return tuple(columns)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json_text(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))


def reshape(batch: pa.RecordBatch, nested: NestedMode) -> dict[str, pa.Array]:
    """Arrays of a raw batch by output column name (flattened or with nested values as JSON)."""
    arrays: dict[str, pa.Array] = {}

    def visit(name: str, array: pa.Array) -> None:
        if nested == "flatten" and pa.types.is_struct(array.type) and array.type.num_fields:
            for index, child in enumerate(array.type):
                visit(f"{name}{SEPARATOR}{child.name}", pc.struct_field(array, [index]))
        elif is_nested(array.type):
            arrays[name] = pa.array([to_json_text(v) for v in array.to_pylist()], pa.string())
        else:
            arrays[name] = array

    for field, column in zip(batch.schema, batch.columns, strict=True):
        visit(field.name, column)
    return arrays


def cast_array(array: pa.Array, column: Column, where: str) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if array.type.equals(column.arrow_type):
        return array
    try:
        return pc.cast(array, column.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueRejected(
            f"{where}: column {column.name!r} has a value that is not a valid "
            f"{column.source_type} ({exc}); declare its type in the table's "
            "source_options.columns (e.g. string)"
        ) from None


def assemble(
    arrays: Mapping[str, pa.Array], columns: Sequence[Column], length: int, where: str
) -> pa.RecordBatch:
    """One batch in exactly ``columns`` order and types; absent columns become nulls."""
    out = []
    for column in columns:
        array = arrays.get(column.name)
        if array is None:
            out.append(pa.nulls(length, column.arrow_type))
        else:
            out.append(cast_array(array, column, where))
    schema = pa.schema([pa.field(c.name, c.arrow_type, nullable=True) for c in columns])
    return pa.RecordBatch.from_arrays(out, schema=schema)


def infer_from_records(records: Iterable[Mapping[str, Any]]) -> pa.Schema:
    """An Arrow schema for Python records (keys in first-seen order, mixed types as strings)."""
    rows = list(records)
    if not rows:
        return pa.schema([])
    try:
        return pa.Table.from_pylist(rows).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        keys: dict[str, None] = {}
        for row in rows:
            keys.update(dict.fromkeys(row))
        fields = []
        for key in keys:
            try:
                arrow_type = pa.array([row.get(key) for row in rows]).type
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                arrow_type = pa.string()
            fields.append(pa.field(key, arrow_type))
        return pa.schema(fields)
