"""Python values <-> Arrow for SQLite, whose driver speaks Python objects, not Arrow."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.base import Column
from headwater.connectors.errors import ValueRejected

_ISO_INTERVAL = re.compile(r"^P(-?\d+)M(-?\d+)DT(-?[\d.]+)S$")


def _timestamp(value: Any, zoned: bool) -> datetime:
    if isinstance(value, int | float):
        result = datetime.fromtimestamp(value, UTC)
    else:
        result = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if zoned:
        return result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)
    return result.replace(tzinfo=None)


def _interval(value: Any) -> pa.MonthDayNano:
    match = _ISO_INTERVAL.match(str(value))
    if not match:
        raise ValueError(f"not an ISO 8601 interval: {value!r}")
    nanos = int(Decimal(match.group(3)) * 1_000_000_000)
    return pa.MonthDayNano([int(match.group(1)), int(match.group(2)), nanos])


def reader_for(column: Column) -> Callable[[Any], Any]:
    """Converter from a sqlite3 value to the Python value of the column's Arrow type."""
    arrow_type = column.arrow_type
    types = pa.types
    if types.is_boolean(arrow_type):
        return bool
    if types.is_uint64(arrow_type) or types.is_integer(arrow_type):
        return int
    if types.is_decimal(arrow_type):
        return lambda v: Decimal(str(v))
    if types.is_timestamp(arrow_type):
        zoned = arrow_type.tz is not None
        return lambda v: _timestamp(v, zoned)
    if types.is_date(arrow_type):
        return lambda v: date.fromisoformat(str(v)[:10])
    if types.is_time(arrow_type):
        return lambda v: time.fromisoformat(str(v))
    if types.is_interval(arrow_type):
        return _interval
    if types.is_floating(arrow_type):
        return float
    if types.is_binary(arrow_type):
        return lambda v: v if isinstance(v, bytes) else str(v).encode()
    return lambda v: v if isinstance(v, str) else str(v)


def rows_to_batch(rows: list[tuple[Any, ...]], columns: list[Column], what: str) -> pa.RecordBatch:
    arrays = []
    for index, column in enumerate(columns):
        convert = reader_for(column)
        values = [row[index] for row in rows]
        try:
            arrays.append(
                pa.array([None if v is None else convert(v) for v in values], column.arrow_type)
            )
        except (ValueError, TypeError, ArithmeticError, pa.ArrowException) as exc:
            raise ValueRejected(
                f"{what}: column {column.name!r} ({column.source_type}) holds a value that "
                f"cannot be read as {column.arrow_type}: {exc}"
            ) from None
    schema = pa.schema([pa.field(c.name, c.arrow_type) for c in columns])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def writer_for(arrow_type: pa.DataType) -> Callable[[Any], Any] | None:
    types = pa.types
    if types.is_boolean(arrow_type):
        return int
    if types.is_uint64(arrow_type):
        return str
    if types.is_decimal(arrow_type):
        return lambda v: format(v, "f")
    if types.is_timestamp(arrow_type):
        return lambda v: v.isoformat(sep=" ", timespec="microseconds")
    if types.is_date(arrow_type) or types.is_time(arrow_type):
        return lambda v: v.isoformat()
    if types.is_interval(arrow_type):
        return lambda v: f"P{v.months}M{v.days}DT{Decimal(v.nanoseconds) / 10**9:f}S"
    if types.is_duration(arrow_type):
        return lambda v: f"P0M0DT{v.total_seconds():f}S"
    if types.is_list(arrow_type) or types.is_struct(arrow_type) or types.is_map(arrow_type):
        return lambda v: json.dumps(v, default=str, ensure_ascii=False)
    return None


def refuse_unstorable_floats(batch: pa.RecordBatch, what: str) -> None:
    """SQLite stores NaN as NULL and -0.0 as 0, and a list goes in as JSON, which has no NaN
    or Infinity: refuse those, naming the column, instead of changing the value silently."""
    for field, array in zip(batch.schema, batch.columns, strict=True):
        problem = None
        if pa.types.is_list(array.type) and pa.types.is_floating(array.type.value_type):
            values = pc.cast(pc.list_flatten(array), pa.float64())
            if pc.any(pc.invert(pc.is_finite(values))).as_py():
                problem = "NaN or Infinity in a list, which JSON cannot hold"
        elif pa.types.is_floating(array.type) and array.null_count < len(array):
            values = pc.cast(array, pa.float64())
            if pc.any(pc.is_nan(values)).as_py():
                problem = "NaN, which SQLite would store as NULL"
            elif pc.any(
                pc.and_(pc.equal(values, 0.0), pc.less(pc.divide(1.0, values), 0.0))
            ).as_py():
                problem = "-0.0, which SQLite would store as 0"
        if problem is not None:
            raise ValueRejected(
                f"{what}: column {field.name!r} holds {problem}; leave the column out or "
                "write another target"
            )


def batch_to_rows(batch: pa.RecordBatch) -> list[tuple[Any, ...]]:
    """Rows of Python values sqlite3 stores exactly (text for decimals and timestamps)."""
    columns = []
    for array in batch.columns:
        values = array.to_pylist()
        writer = writer_for(array.type)
        if writer is not None:
            values = [None if v is None else writer(v) for v in values]
        columns.append(values)
    return list(zip(*columns, strict=True)) if columns else []
