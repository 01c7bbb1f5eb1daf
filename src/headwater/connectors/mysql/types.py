"""MySQL/MariaDB type mapping.

Read side: ``information_schema.COLUMNS`` gives each column's exact type; values come as Arrow
from ConnectorX or PyMySQL. ``DECIMAL`` is selected as text (ConnectorX would return a float)
and becomes ``decimal128`` up to 38 digits, exact text beyond. ``TIME`` (a signed duration of
up to 838 hours) is read as microseconds and carried as an Arrow duration. MariaDB's ``JSON``
is a ``LONGTEXT`` with a ``json_valid`` check, recognised as JSON. ``tinyint(1)`` is boolean
(read as an integer and refused unless 0 or 1); spatial values are WKT (see ``exact``).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from headwater.connectors.base import Column
from headwater.connectors.mysql.exact import SPATIAL_TYPES, spatial_expression
from headwater.connectors.sqltext import quote_backtick

DIALECT = "mysql"

_INTS = {
    "tinyint": (pa.int8(), pa.uint8()),
    "smallint": (pa.int16(), pa.uint16()),
    "mediumint": (pa.int32(), pa.uint32()),
    "int": (pa.int32(), pa.uint32()),
    "integer": (pa.int32(), pa.uint32()),
    "bigint": (pa.int64(), pa.uint64()),
}
_TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}
_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_SPATIAL = SPATIAL_TYPES


def normalise_type(column_type: str) -> str:
    """Lower-case, without integer display widths (``int(11)`` -> ``int``; not ``tinyint(1)``)."""
    text = column_type.strip().lower()
    if text.startswith("tinyint(1)"):
        return text
    return re.sub(r"^(tinyint|smallint|mediumint|int|integer|bigint)\(\d+\)", r"\1", text)


def column_from_info(row: tuple[Any, ...], json_columns: set[str]) -> Column:
    """From ``(name, data_type, column_type, nullable, key, precision, scale, max_length)``."""
    name, data_type, column_type, nullable, key, precision, scale, max_length = row
    data_type = str(data_type).lower()
    type_text = normalise_type(str(column_type))
    base: dict[str, Any] = dict(
        name=name,
        source_type=type_text,
        nullable=nullable == "YES",
        primary_key=key == "PRI",
        dialect=DIALECT,
    )
    unsigned = "unsigned" in type_text
    if data_type == "json" or name in json_columns:
        return Column(arrow_type=pa.string(), semantic="json", **{**base, "source_type": "json"})
    if type_text.startswith("tinyint(1)") and not unsigned:
        return Column(arrow_type=pa.bool_(), **base)
    if data_type in _INTS:
        return Column(arrow_type=_INTS[data_type][1 if unsigned else 0], **base)
    if data_type == "decimal":
        p, s = int(precision), int(scale)
        if p <= 38:
            return Column(arrow_type=pa.decimal128(p, s), precision=p, scale=s, **base)
        return Column(arrow_type=pa.string(), semantic="decimal", precision=p, scale=s, **base)
    if data_type == "float":
        return Column(arrow_type=pa.float32(), **base)
    if data_type in ("double", "real"):
        return Column(arrow_type=pa.float64(), **base)
    if data_type in _TEXT:
        length = int(max_length) if data_type in ("char", "varchar") and max_length else None
        return Column(arrow_type=pa.string(), max_length=length, **base)
    if data_type in _BINARY:
        return Column(arrow_type=pa.binary(), **base)
    if data_type == "date":
        return Column(arrow_type=pa.date32(), **base)
    if data_type == "datetime":
        return Column(arrow_type=pa.timestamp("us"), **base)
    if data_type == "timestamp":
        return Column(arrow_type=pa.timestamp("us", tz="UTC"), **base)
    if data_type == "time":
        return Column(arrow_type=pa.duration("us"), **base)
    if data_type == "year":
        return Column(arrow_type=pa.int16(), **base)
    if data_type == "bit":
        return Column(arrow_type=pa.uint64(), **base)
    if data_type in ("enum", "set"):
        return Column(arrow_type=pa.string(), semantic="enum", **base)
    if data_type in _SPATIAL:
        return Column(arrow_type=pa.string(), semantic="text", **base)
    if data_type == "uuid":  # MariaDB 10.7+
        return Column(arrow_type=pa.string(), semantic="uuid", **base)
    return Column(arrow_type=pa.string(), semantic="text", **base)


def read_expression(column: Column) -> str:
    ident = quote_backtick(column.name)
    data_type = column.source_type.split("(")[0].split(" ")[0]
    if data_type == "decimal":
        return f"CAST({ident} AS CHAR) AS {ident}"
    if data_type == "time":
        return f"CAST(TIME_TO_SEC({ident}) * 1000000 AS SIGNED) AS {ident}"
    if data_type == "bit":
        return f"CAST({ident} AS UNSIGNED) AS {ident}"
    if data_type == "float":  # the text protocol rounds FLOAT to 6 significant digits
        return f"CAST({ident} AS DOUBLE) AS {ident}"
    if data_type in _SPATIAL:
        return spatial_expression(ident)
    if column.source_type == "tinyint(1)":  # checked for 0/1 before the bool cast
        return f"CAST({ident} AS SIGNED) AS {ident}"
    if data_type in ("enum", "set", "json"):
        return f"CAST({ident} AS CHAR) AS {ident}"
    return ident


def mysql_type_for(column: Column) -> str:
    if column.dialect == DIALECT and column.portable:
        return column.source_type
    semantic = column.semantic
    if semantic == "json":
        return "json"
    if semantic == "uuid":
        return "char(36)"
    if semantic == "decimal":
        precision, scale = column.precision, column.scale
        if precision and scale is not None and precision <= 65 and _fits_decimal(scale):
            return f"decimal({precision},{scale})"
        return "longtext"
    return arrow_to_mysql(column.arrow_type, column.max_length)


def _fits_decimal(scale: int) -> bool:
    """MySQL decimals have 0 to 30 fractional digits: more would be rounded away silently (a
    PostgreSQL ``numeric(50,40)``), fewer than none is not a type; those go as exact text."""
    return 0 <= scale <= 30


def arrow_to_mysql(arrow_type: pa.DataType, max_length: int | None = None) -> str:
    types = pa.types
    if types.is_boolean(arrow_type):
        return "tinyint(1)"
    for name, (signed, unsigned) in _INTS.items():
        if name in ("integer", "mediumint"):
            continue
        if arrow_type.equals(signed):
            return name
        if arrow_type.equals(unsigned):
            return f"{name} unsigned"
    if types.is_float32(arrow_type) or types.is_float16(arrow_type):
        return "float"
    if types.is_float64(arrow_type):
        return "double"
    if types.is_decimal(arrow_type):
        if arrow_type.precision <= 65 and _fits_decimal(arrow_type.scale):
            return f"decimal({arrow_type.precision},{arrow_type.scale})"
        return "longtext"
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        return f"varchar({max_length})" if max_length and max_length <= 16383 else "longtext"
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type):
        return "longblob"
    if types.is_fixed_size_binary(arrow_type):
        return "longblob"
    if types.is_date(arrow_type):
        return "date"
    if types.is_time(arrow_type) or types.is_duration(arrow_type):
        return "time(6)"
    if types.is_timestamp(arrow_type):
        return "datetime(6)"
    if types.is_interval(arrow_type):
        return "varchar(64)"
    if types.is_list(arrow_type) or types.is_struct(arrow_type) or types.is_map(arrow_type):
        return "json"
    return "longtext"
