"""SQLite type mapping.

SQLite stores values dynamically; the declared column type decides the Arrow carrier. To keep
exact values, the target declares types whose SQLite affinity is TEXT or BLOB and whose name
still says what they hold (``DECIMAL TEXT(12,2)``, ``TIMESTAMPTZ TEXT``, ``JSON TEXT``): SQLite
never rewrites them into lossy REAL numbers, and the source reads the meaning back from the
name. Plain declarations written by other tools (``INTEGER``, ``REAL``, ``DATETIME``,
``NUMERIC(10,2)``, ``BOOLEAN``) are understood too.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from headwater.connectors.base import Column

DIALECT = "sqlite"

_PRECISION = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


def column_from_pragma(name: str, declared: str, nullable: bool, primary_key: bool) -> Column:
    upper = (declared or "").upper().strip()
    base: dict[str, Any] = dict(
        name=name,
        source_type=declared or "",
        nullable=nullable,
        primary_key=primary_key,
        dialect=DIALECT,
    )
    match = _PRECISION.search(upper)
    if upper.startswith(("DECIMAL", "NUMERIC")) and match and match.group(2) is not None:
        precision, scale = int(match.group(1)), int(match.group(2))
        if precision <= 38:
            return Column(
                arrow_type=pa.decimal128(precision, scale), precision=precision, scale=scale, **base
            )
        return Column(
            arrow_type=pa.string(), semantic="decimal", precision=precision, scale=scale, **base
        )
    if upper.startswith(("DECIMAL", "NUMERIC")):
        return Column(arrow_type=pa.string(), semantic="decimal", **base)
    if upper.startswith(("BOOL",)):
        return Column(arrow_type=pa.bool_(), **base)
    if upper.startswith("U64"):
        return Column(arrow_type=pa.uint64(), **base)
    if "INT" in upper and not upper.startswith(("INTERVAL", "POINT")):
        return Column(arrow_type=pa.int64(), **base)
    if upper.startswith("JSON"):
        return Column(arrow_type=pa.string(), semantic="json", **base)
    if upper.startswith("UUID"):
        return Column(arrow_type=pa.string(), semantic="uuid", **base)
    if upper.startswith(("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")):
        return Column(arrow_type=pa.timestamp("us", tz="UTC"), **base)
    if upper.startswith(("TIMESTAMP", "DATETIME")):
        return Column(arrow_type=pa.timestamp("us"), **base)
    if upper.startswith("DATE"):
        return Column(arrow_type=pa.date32(), **base)
    if upper.startswith("TIME"):
        return Column(arrow_type=pa.time64("us"), **base)
    if upper.startswith("DURATION"):
        return Column(arrow_type=pa.month_day_nano_interval(), **base)
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        bits32 = upper.startswith("FLOAT4") or upper == "FLOAT32"
        return Column(arrow_type=pa.float32() if bits32 else pa.float64(), **base)
    if "BLOB" in upper or upper == "":
        if upper == "":
            return Column(arrow_type=pa.string(), semantic="text", **base)
        return Column(arrow_type=pa.binary(), **base)
    length = int(match.group(1)) if match and "CHAR" in upper else None
    return Column(arrow_type=pa.string(), max_length=length, **base)


def sqlite_type_for(column: Column) -> str:
    if column.dialect == DIALECT and column.portable and column.source_type:
        return column.source_type
    semantic = column.semantic
    if semantic == "json":
        return "JSON TEXT"
    if semantic == "uuid":
        return "UUID TEXT"
    if semantic == "decimal":
        if column.precision and column.scale is not None:
            return f"DECIMAL TEXT({column.precision},{column.scale})"
        return "DECIMAL TEXT"
    return arrow_to_sqlite(column.arrow_type)


def arrow_to_sqlite(arrow_type: pa.DataType) -> str:
    types = pa.types
    if types.is_boolean(arrow_type):
        return "BOOLEAN"
    if types.is_uint64(arrow_type):
        return "U64 TEXT"
    if types.is_integer(arrow_type):
        return "INTEGER"
    if types.is_float32(arrow_type) or types.is_float16(arrow_type):
        return "FLOAT4"
    if types.is_floating(arrow_type):
        return "REAL"
    if types.is_decimal(arrow_type):
        return f"DECIMAL TEXT({arrow_type.precision},{arrow_type.scale})"
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type):
        return "BLOB"
    if types.is_fixed_size_binary(arrow_type):
        return "BLOB"
    if types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ TEXT" if arrow_type.tz else "TIMESTAMP TEXT"
    if types.is_date(arrow_type):
        return "DATE TEXT"
    if types.is_time(arrow_type):
        return "TIME TEXT"
    if types.is_interval(arrow_type) or types.is_duration(arrow_type):
        return "DURATION TEXT"
    if types.is_list(arrow_type) or types.is_struct(arrow_type) or types.is_map(arrow_type):
        return "JSON TEXT"
    return "TEXT"
