"""PostgreSQL catalogue reading and the type mapping in both directions.

Reading: each column keeps its exact ``format_type`` text (so a PostgreSQL target recreates it
verbatim) and gets an Arrow carrier for other targets. Types Arrow cannot hold exactly
(``numeric`` beyond 38 digits or unconstrained, ``json``, ``uuid``, enums, ``xml`` ...) are
read as their PostgreSQL text form, which is exact, and flagged with a ``semantic`` so targets
create the right column type.

Writing: :func:`pg_type_for` picks the PostgreSQL type for a column from another source, using
exactly the spellings ``format_type`` returns so that drift detection compares like with like.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from headwater.connectors.base import Column, TableRef
from headwater.connectors.postgres.guards import guarded

log = logging.getLogger(__name__)

DIALECT = "postgresql"

_SIMPLE: dict[str, pa.DataType] = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "oid": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "citext": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "interval": pa.month_day_nano_interval(),
}

_TEXT_SEMANTIC = {"json": "json", "jsonb": "json", "uuid": "uuid", "xml": "xml"}

CATALOGUE_SQL = """
SELECT a.attname,
       format_type(a.atttypid, a.atttypmod),
       NOT a.attnotnull,
       COALESCE(a.attnum = ANY (i.indkey), false),
       t.typname, t.typtype, t.typcategory,
       et.typname, et.typtype,
       a.atttypmod,
       t.oid >= 16384 OR (et.oid IS NOT NULL AND et.oid >= 16384)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def numeric_precision(typmod: int) -> tuple[int | None, int | None]:
    if typmod < 4:
        return None, None
    value = typmod - 4
    precision = (value >> 16) & 0xFFFF
    # PostgreSQL 15 allows scales from -1000 to 1000, stored as 11-bit two's complement
    scale = ((value & 0x7FF) ^ 0x400) - 0x400
    return precision, scale


def _varchar_length(typname: str, typmod: int) -> int | None:
    if typname in ("varchar", "bpchar") and typmod >= 4:
        return typmod - 4
    return None


def column_from_catalogue(row: tuple[Any, ...]) -> Column:
    """Build a Column from one row of :data:`CATALOGUE_SQL`."""
    (
        name,
        type_text,
        nullable,
        primary_key,
        typname,
        typtype,
        category,
        elem_name,
        elem_type,
        typmod,
        user_defined,
    ) = row
    base = dict(
        name=name,
        source_type=type_text,
        nullable=nullable,
        primary_key=primary_key,
        dialect=DIALECT,
        portable=not user_defined,
    )
    if category == "A" and elem_name is not None:
        if elem_name in _SIMPLE and elem_type == "b":
            return Column(arrow_type=pa.list_(_SIMPLE[elem_name]), **base)
        log.info("Column %s (%s) is read as an array of text", name, type_text)
        return Column(arrow_type=pa.list_(pa.string()), semantic="text_array", **base)
    if typname == "numeric":
        precision, scale = numeric_precision(typmod)
        if precision is not None and scale is not None and 0 <= scale <= precision <= 38:
            return Column(
                arrow_type=pa.decimal128(precision, scale), precision=precision, scale=scale, **base
            )
        return Column(
            arrow_type=pa.string(), semantic="decimal", precision=precision, scale=scale, **base
        )
    if typname == "money":
        # the text form depends on lc_monetary; the numeric value does not
        return Column(arrow_type=pa.string(), semantic="decimal", **base)
    if typname in _TEXT_SEMANTIC:
        return Column(arrow_type=pa.string(), semantic=_TEXT_SEMANTIC[typname], **base)
    if typtype == "e":
        return Column(arrow_type=pa.string(), semantic="enum", **base)
    if typname in _SIMPLE and typtype == "b":
        return Column(
            arrow_type=_SIMPLE[typname], max_length=_varchar_length(typname, typmod), **base
        )
    log.info("Column %s (%s) is read as its text form", name, type_text)
    return Column(arrow_type=pa.string(), semantic="text", **base)


def read_expression(column: Column) -> sql.Composable:
    """The select-list item that yields ``column`` in its Arrow carrier type; a value the
    carrier would change fails the read instead (see :mod:`.guards`)."""
    ident = sql.Identifier(column.name)
    item: sql.Composable
    if column.semantic == "text_array" and not pa.types.is_list(column.arrow_type):
        item = sql.SQL("{}::text[]::text").format(ident)
    elif column.semantic == "text_array":
        item = guarded(column, sql.SQL("{}::text[]").format(ident), "text[]")
    elif column.semantic == "decimal" and column.source_type == "money":
        item = sql.SQL("{}::numeric::text").format(ident)
    elif column.source_type == "oid":  # the driver reads oid as a signed 32-bit integer
        item = sql.SQL("{}::bigint").format(ident)
    elif column.semantic is not None or pa.types.is_decimal(column.arrow_type):
        item = sql.SQL("{}::text").format(ident)
    else:
        item = guarded(column, ident)
    return sql.SQL("{} AS {}").format(item, ident)


def native_expression(column: Column) -> sql.Composable:
    """The select-list item for a binary COPY to PostgreSQL columns of the same types.

    ``xml`` goes as text: its binary output drops the XML declaration, its text does not.
    """
    ident = sql.Identifier(column.name)
    if column.source_type == "xml":
        return sql.SQL("{}::text AS {}").format(ident, ident)
    return ident


def as_text_form(column: Column) -> Column:
    """``column`` carried as its PostgreSQL text form, for a PostgreSQL target that recreates
    the type: exact for arrays of any shape and bounds, intervals of any size and ``24:00``,
    which their Arrow carriers cannot hold. Other columns keep their carrier (binary COPY)."""
    if column.dialect != DIALECT:
        return column
    if column.semantic == "text_array":  # a user-defined element type: a text[] column
        return replace(column, arrow_type=pa.string())
    is_array = column.source_type.endswith("[]")
    lossy = pa.types.is_interval(column.arrow_type) or pa.types.is_time(column.arrow_type)
    if column.portable and (is_array or lossy):
        return replace(column, arrow_type=pa.string(), semantic="text")
    return column


def fetch_columns(conn: psycopg.Connection[Any], ref: TableRef) -> list[Column]:
    rows = conn.execute(CATALOGUE_SQL, (ref.schema, ref.name)).fetchall()
    return [column_from_catalogue(row) for row in rows]


#: :data:`CATALOGUE_SQL` for every table of a schema at once, the table's name first.
SCHEMA_CATALOGUE_SQL = (
    CATALOGUE_SQL.replace("SELECT a.attname,", "SELECT c.relname, a.attname,")
    .replace(
        "n.nspname = %s AND c.relname = %s",
        "n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
    )
    .replace("ORDER BY a.attnum", "ORDER BY c.relname, a.attnum")
)


def fetch_schema_columns(conn: psycopg.Connection[Any], schema: str) -> dict[str, list[Column]]:
    """Columns of every table of ``schema`` by table name, in one catalogue query."""
    tables: dict[str, list[Column]] = {}
    for row in conn.execute(SCHEMA_CATALOGUE_SQL, (schema,)).fetchall():
        tables.setdefault(str(row[0]), []).append(column_from_catalogue(row[1:]))
    return tables


def pg_type_for(column: Column) -> str:
    """PostgreSQL column type for ``column``, spelled as ``format_type`` spells it."""
    if column.dialect == DIALECT and column.portable and column.semantic != "enum":
        return column.source_type
    semantic = column.semantic
    if semantic == "json":
        return "jsonb"
    if semantic == "text_array":
        return "text[]"
    if semantic in ("uuid", "xml"):
        return semantic
    if semantic == "decimal":
        if column.precision and column.scale is not None and column.precision <= 1000:
            return f"numeric({column.precision},{column.scale})"
        return "numeric"
    return arrow_to_pg(column.arrow_type, column.max_length)


def arrow_to_pg(arrow_type: pa.DataType, max_length: int | None = None) -> str:
    types = pa.types
    if types.is_boolean(arrow_type):
        return "boolean"
    if types.is_int8(arrow_type) or types.is_int16(arrow_type) or types.is_uint8(arrow_type):
        return "smallint"
    if types.is_int32(arrow_type) or types.is_uint16(arrow_type):
        return "integer"
    if types.is_int64(arrow_type) or types.is_uint32(arrow_type):
        return "bigint"
    if types.is_uint64(arrow_type):
        return "numeric(20,0)"
    if types.is_float16(arrow_type) or types.is_float32(arrow_type):
        return "real"
    if types.is_float64(arrow_type):
        return "double precision"
    if types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision},{arrow_type.scale})"
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        return f"character varying({max_length})" if max_length else "text"
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type):
        return "bytea"
    if types.is_fixed_size_binary(arrow_type):
        return "bytea"
    if types.is_date(arrow_type):
        return "date"
    if types.is_time(arrow_type):
        return "time without time zone"
    if types.is_timestamp(arrow_type):
        if arrow_type.tz:
            return "timestamp with time zone"
        return "timestamp without time zone"
    if types.is_interval(arrow_type) or types.is_duration(arrow_type):
        return "interval"
    if types.is_list(arrow_type) or types.is_large_list(arrow_type):
        return arrow_to_pg(arrow_type.value_type) + "[]"
    if types.is_struct(arrow_type) or types.is_map(arrow_type):
        return "jsonb"
    if types.is_dictionary(arrow_type):
        return arrow_to_pg(arrow_type.value_type)
    return "text"
