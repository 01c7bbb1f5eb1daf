"""Snowflake type mapping, both ways.

Read side: ``INFORMATION_SCHEMA.COLUMNS`` (or a query's result metadata) gives each column's
type. ``NUMBER(p,0)`` becomes the narrowest Arrow integer that holds every ``p``-digit value
(``decimal128(p,0)`` beyond 18 digits), ``NUMBER(p,s)`` ``decimal128(p,s)``. Timestamps are
selected as ``DATE_PART(EPOCH_MICROSECOND, ...)`` and carried as microsecond Arrow timestamps
(UTC for ``TIMESTAMP_TZ``/``_LTZ``), so no driver time-zone conversion is involved;
``VARIANT``, ``OBJECT`` and ``ARRAY`` are selected as ``TO_JSON`` text with the ``json``
semantic; geography, geometry and vectors as their text.

Write side (:func:`snowflake_type_for`): integers become ``NUMBER(p,0)`` wide enough for their
Arrow type, decimals ``NUMBER(p,s)`` up to Snowflake's 38 digits (beyond: exact text in
``VARCHAR``), timestamps ``TIMESTAMP_TZ``/``TIMESTAMP_NTZ`` at the source's precision, JSON
``VARIANT``, lists ``ARRAY``, structs and maps ``OBJECT``, binary ``BINARY``. Snowflake has no
interval or duration type: such a column is refused with its name.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from headwater.connectors.base import Column
from headwater.connectors.errors import ValueRejected

DIALECT = "snowflake"
#: Target types loaded from JSON text: the staging column is VARCHAR, published with PARSE_JSON.
SEMI_STRUCTURED = ("VARIANT", "OBJECT", "ARRAY")
_TIMESTAMPS = ("TIMESTAMP_TZ", "TIMESTAMP_LTZ", "TIMESTAMP_NTZ", "TIMESTAMP", "DATETIME")
_TEXT = ("TEXT", "VARCHAR", "STRING", "CHAR", "CHARACTER")
_OTHER_AS_TEXT = ("GEOGRAPHY", "GEOMETRY", "VECTOR")


def _integer_type(precision: int) -> pa.DataType | None:
    if precision <= 4:
        return pa.int16()
    if precision <= 9:
        return pa.int32()
    if precision <= 18:
        return pa.int64()
    return None


def column_from_info(
    name: str,
    data_type: str,
    precision: Any,
    scale: Any,
    max_length: Any,
    nullable: bool,
) -> Column:
    """A column from its catalogue row (``data_type`` as ``INFORMATION_SCHEMA`` spells it)."""
    base: dict[str, Any] = dict(name=name, nullable=nullable, dialect=DIALECT)
    kind = data_type.upper().split("(")[0].strip()
    if kind in ("NUMBER", "DECIMAL", "NUMERIC", "FIXED", "INT", "INTEGER", "BIGINT"):
        p = int(precision) if precision is not None else 38
        s = int(scale) if scale is not None else 0
        source = f"NUMBER({p},{s})"
        if s == 0 and (integer := _integer_type(p)) is not None:
            return Column(arrow_type=integer, source_type=source, precision=p, scale=0, **base)
        return Column(
            arrow_type=pa.decimal128(p, s), source_type=source, precision=p, scale=s, **base
        )
    if kind in ("FLOAT", "REAL", "DOUBLE", "FLOAT8", "DOUBLE PRECISION"):
        return Column(arrow_type=pa.float64(), source_type="FLOAT", **base)
    if kind in _TEXT:
        length = int(max_length) if max_length and int(max_length) < 16_777_216 else None
        source = f"VARCHAR({length})" if length else "VARCHAR"
        return Column(arrow_type=pa.string(), source_type=source, max_length=length, **base)
    if kind == "BOOLEAN":
        return Column(arrow_type=pa.bool_(), source_type="BOOLEAN", **base)
    if kind == "DATE":
        return Column(arrow_type=pa.date32(), source_type="DATE", **base)
    if kind == "TIME":
        return Column(arrow_type=pa.time64("us"), source_type="TIME(6)", **base)
    if kind in _TIMESTAMPS:
        zoned = kind in ("TIMESTAMP_TZ", "TIMESTAMP_LTZ")
        source = "TIMESTAMP_TZ(6)" if zoned else "TIMESTAMP_NTZ(6)"
        arrow = pa.timestamp("us", tz="UTC") if zoned else pa.timestamp("us")
        return Column(arrow_type=arrow, source_type=source, **base)
    if kind in ("BINARY", "VARBINARY"):
        return Column(arrow_type=pa.binary(), source_type="BINARY", **base)
    if kind in SEMI_STRUCTURED:
        return Column(arrow_type=pa.string(), source_type=kind, semantic="json", **base)
    return Column(arrow_type=pa.string(), source_type=kind or "VARCHAR", semantic="text", **base)


def read_expression(column: Column, quoted: str) -> str:
    """The select-list item reading ``column`` (``quoted`` is its quoted Snowflake name)."""
    kind = column.source_type.split("(")[0]
    if kind in _TIMESTAMPS:
        return f"DATE_PART(EPOCH_MICROSECOND, {quoted}) AS {quoted}"
    if kind in SEMI_STRUCTURED:
        return f"TO_JSON({quoted}) AS {quoted}"
    if kind in _OTHER_AS_TEXT:
        return f"TO_VARCHAR({quoted}) AS {quoted}"
    return quoted


def snowflake_type_for(column: Column) -> str:
    if column.dialect == DIALECT and column.portable:
        return column.source_type
    semantic = column.semantic
    if semantic == "json":
        return "VARIANT"
    if semantic == "uuid":
        return "VARCHAR(36)"
    if semantic == "decimal":
        precision, scale = column.precision, column.scale
        # Snowflake's NUMBER holds 38 digits; beyond, exact text
        if precision and scale is not None and 0 <= scale <= min(precision, 37) and precision <= 38:
            return f"NUMBER({precision},{scale})"
        return "VARCHAR"
    if semantic in ("enum", "text", "xml"):
        return "VARCHAR"
    return arrow_to_snowflake(column.arrow_type, column.name, column.max_length)


def arrow_to_snowflake(arrow_type: pa.DataType, name: str, max_length: int | None = None) -> str:
    types = pa.types
    if types.is_boolean(arrow_type):
        return "BOOLEAN"
    if types.is_integer(arrow_type):
        digits = {8: 3, 16: 5, 32: 10, 64: 19}[arrow_type.bit_width]
        if types.is_unsigned_integer(arrow_type) and arrow_type.bit_width == 64:
            digits = 20
        return f"NUMBER({digits},0)"
    if types.is_floating(arrow_type):
        return "FLOAT"
    if types.is_decimal(arrow_type):
        if arrow_type.precision <= 38 and 0 <= arrow_type.scale <= 37:
            return f"NUMBER({arrow_type.precision},{max(arrow_type.scale, 0)})"
        return "VARCHAR"
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        return f"VARCHAR({max_length})" if max_length else "VARCHAR"
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type):
        return "BINARY"
    if types.is_fixed_size_binary(arrow_type):
        return "BINARY"
    if types.is_date(arrow_type):
        return "DATE"
    if types.is_time(arrow_type):
        return "TIME(9)" if arrow_type.unit == "ns" else "TIME(6)"
    if types.is_timestamp(arrow_type):
        digits = {"s": 0, "ms": 3, "us": 6, "ns": 9}[arrow_type.unit]
        return f"TIMESTAMP_TZ({digits})" if arrow_type.tz else f"TIMESTAMP_NTZ({digits})"
    if types.is_list(arrow_type) or types.is_large_list(arrow_type):
        return "ARRAY"
    if types.is_struct(arrow_type) or types.is_map(arrow_type):
        return "OBJECT"
    if types.is_dictionary(arrow_type):
        return arrow_to_snowflake(arrow_type.value_type, name, max_length)
    if types.is_interval(arrow_type) or types.is_duration(arrow_type):
        raise ValueRejected(
            f"column {name!r}: Snowflake has no interval or duration type ({arrow_type}); "
            "leave the column out or cast it to text in a custom query"
        )
    if types.is_null(arrow_type):
        return "VARCHAR"
    return "VARCHAR"


def stage_type(type_text: str) -> str:
    """The staging column's type for a target column: JSON arrives as text."""
    return "VARCHAR" if type_text.split("(")[0].upper() in SEMI_STRUCTURED else type_text


def publish_expression(type_text: str, staged: str) -> str:
    """The staged value as the target column takes it."""
    kind = type_text.split("(")[0].upper()
    if kind in SEMI_STRUCTURED:
        return f"PARSE_JSON({staged})"
    return staged
