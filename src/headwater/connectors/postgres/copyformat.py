"""Arrow batches to ``COPY ... FROM STDIN (FORMAT csv)`` input.

Arrow's C++ CSV writer formats numbers, decimals, dates, times and timestamps exactly and fast;
PostgreSQL then parses them into the real column types (``numeric``, ``jsonb``, ``uuid``),
which keeps the data exact without a second copy inside the server. A quoted empty field is an
empty string and an unquoted one is NULL, which is exactly how the writer renders them.
The few types the CSV writer cannot render the PostgreSQL way (binary, arrays, intervals,
structs) are converted per value in Python; they are rare in bulk data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def to_csv(batch: pa.RecordBatch) -> pa.Buffer:
    """Render ``batch`` as PostgreSQL-compatible CSV."""
    arrays = [_prepare(column) for column in batch.columns]
    prepared = pa.RecordBatch.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])
    sink = pa.BufferOutputStream()
    pacsv.write_csv(prepared, sink, _WRITE_OPTIONS)
    return sink.getvalue()


def needs_python(arrow_type: pa.DataType) -> bool:
    types = pa.types
    return bool(
        types.is_binary(arrow_type)
        or types.is_large_binary(arrow_type)
        or types.is_fixed_size_binary(arrow_type)
        or types.is_list(arrow_type)
        or types.is_large_list(arrow_type)
        or types.is_interval(arrow_type)
        or types.is_duration(arrow_type)
        or types.is_struct(arrow_type)
        or types.is_map(arrow_type)
        or types.is_null(arrow_type)
    )


def _prepare(array: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_timestamp(array.type) and array.type.tz is not None:
        # The writer formats zoned timestamps 25x slower; the instants are UTC and the COPY
        # session runs with TimeZone=UTC, so the naive UTC wall time means the same instant.
        return array.cast(pa.timestamp(array.type.unit))
    if not needs_python(array.type):
        return array
    render = _renderer(array.type)
    return pa.array(
        [None if value is None else render(value) for value in array.to_pylist()],
        type=pa.string(),
    )


def _renderer(arrow_type: pa.DataType) -> Callable[[Any], str]:
    types = pa.types
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type):
        return _bytea
    if types.is_fixed_size_binary(arrow_type):
        return _bytea
    if types.is_interval(arrow_type):
        return _interval
    if types.is_duration(arrow_type):
        return lambda value: f"{value.total_seconds():.6f} seconds"
    if types.is_list(arrow_type) or types.is_large_list(arrow_type):
        return _array_literal
    return lambda value: json.dumps(value, default=str, ensure_ascii=False)


def _bytea(value: bytes) -> str:
    return "\\x" + value.hex()


def _interval(value: Any) -> str:
    """``MonthDayNano`` as ISO 8601, which PostgreSQL parses whatever its IntervalStyle."""
    months, days, nanos = value.months, value.days, value.nanoseconds
    seconds = Decimal(nanos) / Decimal(1_000_000_000)
    return f"P{months}M{days}DT{seconds:f}S"


def _array_literal(values: list[Any]) -> str:
    return "{" + ",".join(_array_element(v) for v in values) + "}"


def _array_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return _array_literal(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, bytes):
        text = _bytea(value)
    elif isinstance(value, datetime | date | time):
        text = value.isoformat()
    elif isinstance(value, dict):
        text = json.dumps(value, default=str, ensure_ascii=False)
    elif hasattr(value, "months") and hasattr(value, "nanoseconds"):
        text = _interval(value)
    else:
        text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
