"""DuckDB type mapping.

DuckDB describes columns with type text (``DECIMAL(12,2)``, ``TIMESTAMP WITH TIME ZONE``,
``INTEGER[]``) and exports Arrow natively. Types Arrow would carry lossily or awkwardly are
selected as text and flagged: ``UUID`` and ``JSON`` (text with a semantic), ``HUGEINT`` and
``UHUGEINT`` (exact decimal text), ``ENUM`` (text), ``STRUCT``/``MAP``/``UNION`` (JSON text),
``BIT`` and ``TIME WITH TIME ZONE`` (text).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from headwater.connectors.base import Column
from headwater.connectors.sqltext import quote_ident

DIALECT = "duckdb"

_SIMPLE: dict[str, pa.DataType] = {
    "BOOLEAN": pa.bool_(),
    "TINYINT": pa.int8(),
    "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "UTINYINT": pa.uint8(),
    "USMALLINT": pa.uint16(),
    "UINTEGER": pa.uint32(),
    "UBIGINT": pa.uint64(),
    "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BLOB": pa.binary(),
    "DATE": pa.date32(),
    "TIME": pa.time64("us"),
    "TIMESTAMP": pa.timestamp("us"),
    "TIMESTAMP_MS": pa.timestamp("us"),
    "TIMESTAMP_S": pa.timestamp("us"),
    "TIMESTAMP_NS": pa.timestamp("us"),
    "TIMESTAMP WITH TIME ZONE": pa.timestamp("us", tz="UTC"),
    "INTERVAL": pa.month_day_nano_interval(),
}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_VARCHAR_N = re.compile(r"^VARCHAR\((\d+)\)$")


def column_from_describe(
    name: str, type_text: str, nullable: bool, primary_key: bool = False
) -> Column:
    base: dict[str, Any] = dict(
        name=name,
        source_type=type_text,
        nullable=nullable,
        primary_key=primary_key,
        dialect=DIALECT,
    )
    upper = type_text.upper()
    if upper in _SIMPLE:
        return Column(arrow_type=_SIMPLE[upper], **base)
    if match := _DECIMAL.match(upper):
        precision, scale = int(match.group(1)), int(match.group(2))
        return Column(
            arrow_type=pa.decimal128(precision, scale), precision=precision, scale=scale, **base
        )
    if match := _VARCHAR_N.match(upper):
        return Column(arrow_type=pa.string(), max_length=int(match.group(1)), **base)
    if upper == "UUID":
        return Column(arrow_type=pa.string(), semantic="uuid", **base)
    if upper == "JSON":
        return Column(arrow_type=pa.string(), semantic="json", **base)
    if upper in ("HUGEINT", "UHUGEINT"):
        return Column(arrow_type=pa.string(), semantic="decimal", precision=39, scale=0, **base)
    if upper.startswith("ENUM("):
        return Column(arrow_type=pa.string(), semantic="enum", **base)
    if upper.endswith("[]"):
        element = column_from_describe(name, type_text[:-2], True)
        if element.semantic is None:
            return Column(arrow_type=pa.list_(element.arrow_type), **base)
        return Column(arrow_type=pa.string(), semantic="json", **base)
    if upper.startswith(("STRUCT", "MAP", "UNION")):
        return Column(arrow_type=pa.string(), semantic="json", **base)
    return Column(arrow_type=pa.string(), semantic="text", **base)


def read_expression(column: Column) -> str:
    ident = quote_ident(column.name)
    upper = column.source_type.upper()
    if column.semantic == "json" and upper != "JSON":
        return f"to_json({ident})::VARCHAR AS {ident}"
    if column.semantic is not None:
        return f"{ident}::VARCHAR AS {ident}"
    if upper in ("TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMP_NS"):
        return f"{ident}::TIMESTAMP AS {ident}"
    return ident


def duckdb_type_for(column: Column) -> str:
    if column.dialect == DIALECT and column.portable:
        return column.source_type
    semantic = column.semantic
    if semantic == "json":
        return "JSON"
    if semantic == "uuid":
        return "UUID"
    if semantic == "decimal":
        precision, scale = column.precision, column.scale
        # a negative scale (PostgreSQL 15) is no DuckDB type: exact text then
        if precision and scale is not None and 0 <= scale <= precision <= 38:
            return f"DECIMAL({precision},{scale})"
        return "VARCHAR"
    return arrow_to_duckdb(column.arrow_type)


def arrow_to_duckdb(arrow_type: pa.DataType) -> str:
    types = pa.types
    for duck, candidate in _SIMPLE.items():
        if duck in ("TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMP_NS"):
            continue
        if candidate.equals(arrow_type):
            return duck
    if types.is_float16(arrow_type):
        return "FLOAT"
    if types.is_decimal(arrow_type):
        if arrow_type.precision <= 38:
            return f"DECIMAL({arrow_type.precision},{arrow_type.scale})"
        return "VARCHAR"
    if types.is_large_string(arrow_type):
        return "VARCHAR"
    if types.is_large_binary(arrow_type) or types.is_fixed_size_binary(arrow_type):
        return "BLOB"
    if types.is_timestamp(arrow_type):
        return "TIMESTAMP WITH TIME ZONE" if arrow_type.tz else "TIMESTAMP"
    if types.is_date(arrow_type):
        return "DATE"
    if types.is_time(arrow_type):
        return "TIME"
    if types.is_duration(arrow_type):
        return "INTERVAL"
    if types.is_list(arrow_type) or types.is_large_list(arrow_type):
        return arrow_to_duckdb(arrow_type.value_type) + "[]"
    if types.is_struct(arrow_type) or types.is_map(arrow_type):
        return "JSON"
    if types.is_dictionary(arrow_type):
        return arrow_to_duckdb(arrow_type.value_type)
    return "VARCHAR"
