"""MySQL/MariaDB values that cannot be carried as they are: refused by name, never changed.

Three values of MySQL/MariaDB have no exact equivalent in the Arrow carrier of their column,
and drivers would otherwise change them without a word:

* ``tinyint(1)`` is read as a boolean, but the column can hold any ``tinyint``: a 2 or a -1
  would become ``true``. The raw integers are checked before the cast.
* Zero dates (``0000-00-00``, ``2024-00-00``, ``2024-01-00 10:00:00``), which a permissive
  ``sql_mode`` lets in, are not dates anywhere else. ConnectorX panics on them and PyMySQL
  hands them over as text; either way the read fails, and :func:`zero_date_sql` finds the
  column and value to name.
* Spatial values are carried as WKT (``ST_AsText`` writes every double so that it reads back
  to the same double); a non-zero SRID is kept as an EWKT ``SRID=n;`` prefix, which
  PostGIS reads. A MySQL target recreates the spatial column and stages the text in a
  ``longtext`` column, turned back into geometry by :func:`geometry_from_ewkt` on publish
  (PyMySQL's batched ``executemany`` takes plain placeholders only).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.base import Column
from headwater.connectors.errors import ValueRejected
from headwater.connectors.sqltext import quote_backtick

_DATE_TYPES = ("date", "datetime", "timestamp")
SPATIAL_TYPES = frozenset(
    (
        "geometry",
        "point",
        "linestring",
        "polygon",
        "multipoint",
        "multilinestring",
        "multipolygon",
        "geometrycollection",
    )
)


def is_spatial(type_text: str) -> bool:
    return type_text.split("(")[0].split(" ")[0].lower() in SPATIAL_TYPES


def geometry_from_ewkt(ident: str) -> str:
    """SQL turning staged (E)WKT text back into a geometry with its SRID."""
    return (
        f"IF({ident} LIKE 'SRID=%;%', ST_GeomFromText(SUBSTRING_INDEX({ident}, ';', -1), "
        f"CAST(SUBSTRING(SUBSTRING_INDEX({ident}, ';', 1), 6) AS UNSIGNED)), "
        f"ST_GeomFromText({ident}))"
    )


def is_boolean_tinyint(column: Column) -> bool:
    return column.source_type.startswith("tinyint(1)") and pa.types.is_boolean(column.arrow_type)


def base_type(column: Column) -> str:
    return column.source_type.split("(")[0].split(" ")[0]


def spatial_expression(ident: str) -> str:
    """WKT of a spatial value, as EWKT (``SRID=4326;POINT(1 2)``) when its SRID is not 0."""
    return (
        f"IF(ST_SRID({ident}) = 0, ST_AsText({ident}), "
        f"CONCAT('SRID=', ST_SRID({ident}), ';', ST_AsText({ident}))) AS {ident}"
    )


def check_booleans(batch: pa.RecordBatch, columns: Sequence[Column], where: str) -> None:
    """Refuse a ``tinyint(1)`` value other than 0 and 1 (it would silently become ``true``)."""
    for index, column in enumerate(columns):
        if not is_boolean_tinyint(column):
            continue
        array = batch.column(index)
        if pa.types.is_boolean(array.type) or not pa.types.is_integer(array.type):
            continue
        bad = pc.filter(array, pc.invert(pc.is_in(array, pa.array([0, 1], array.type))))
        bad = bad.drop_null()
        if len(bad):
            raise ValueRejected(
                f"{where}: column {column.name!r} ({column.source_type}) holds "
                f"{bad[0].as_py()}, which is not a boolean (0 or 1) and would become true; "
                f"read it as a number with a source query (CAST({quote_backtick(column.name)} "
                "AS SIGNED))"
            )


def date_columns(columns: Sequence[Column]) -> list[Column]:
    return [c for c in columns if base_type(c) in _DATE_TYPES]


def zero_date_sql(column: Column, source: str, conditions: Sequence[str]) -> str:
    """One zero date (or date with a zero month or day) of ``column`` in ``source``, as text."""
    ident = quote_backtick(column.name)
    where = " AND ".join(
        [*conditions, f"{ident} IS NOT NULL", f"(MONTH({ident}) = 0 OR DAYOFMONTH({ident}) = 0)"]
    )
    return f"SELECT CAST({ident} AS CHAR) FROM {source} WHERE {where} LIMIT 1"


def zero_date_error(column: Column, value: str, where: str) -> ValueRejected:
    ident = quote_backtick(column.name)
    return ValueRejected(
        f"{where}: column {column.name!r} ({column.source_type}) holds the zero date "
        f"{value!r}, which no other database can store as a date; the load stops. Map it "
        f"in a source query, e.g. NULLIF({ident}, '0000-00-00') or CAST({ident} AS CHAR)"
    )
