"""Reading a copied zoo column back from each target and comparing it with the source.

Every target is read with its own driver (DuckDB and Parquet through Arrow, so intervals keep
their months), never through Headwater, and compared per value with the PostgreSQL source:
``exact`` compares values (floats bit for bit, decimals with their scale, timestamps as
instants), ``text`` the PostgreSQL text form, ``json`` parsed JSON with exact numbers,
``elements`` a list of the elements' text forms.
"""

from __future__ import annotations

import json
import math
import re
import struct
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from headwater.connectors.files.shape import decode_schema

try:
    from tests.connectors.dbkit import pg_rows
except ImportError:  # tests/ itself is on sys.path
    from connectors.dbkit import pg_rows  # type: ignore[no-redef]

_ISO_INTERVAL = re.compile(r"^P(-?\d+)M(-?\d+)DT(-?[\d.]+)S$")

#: Source expressions for values psycopg would load lossily (intervals as timedelta).
SOURCE_EXPRESSION = {
    "interval": "CASE WHEN {c} IS NOT NULL THEN ARRAY[(extract(year FROM {c}) * 12 "
    "+ extract(month FROM {c}))::bigint, extract(day FROM {c})::bigint, "
    "(extract(epoch FROM {c} - date_trunc('day', {c})) * 1000000000)::numeric]::text END",
    "money": "{c}::numeric",
    "real": "{c}::float8",
}


def source_values(props: dict[str, Any], table: str, name: str, mode: str, ddl: str) -> list[Any]:
    if mode == "text":
        expression = f"{name}::text"
    elif mode == "elements":
        expression = f"{name}::text[]"
    elif mode == "json":
        expression = f"to_jsonb({name})::text"
    elif ddl in SOURCE_EXPRESSION:
        expression = SOURCE_EXPRESSION[ddl].format(c=name)
    else:
        expression = name
    values = [r[0] for r in pg_rows(props, f"SELECT {expression} FROM {table} ORDER BY id")]
    if ddl == "interval" and mode == "exact":
        return [
            None if v is None else Interval(*map(Decimal, v.strip("{}").split(","))) for v in values
        ]
    return values


class Interval(NamedTuple):
    """An interval's fields as PostgreSQL stores them (time part in nanoseconds)."""

    months: Decimal
    days: Decimal
    nanoseconds: Decimal


def target_values(kind: str, backend: Any, table: str, name: str) -> list[Any]:
    if kind in ("duckdb", "files", "csv"):
        arrow = _arrow_table(kind, backend, table)
        order = arrow.column("id").to_pylist()
        values = arrow.column(name).to_pylist()
        return [v for _, v in sorted(zip(order, values, strict=True))]
    quote = backend.quote
    return [r[0] for r in backend.rows(f"SELECT {quote(name)} FROM {quote(table)} ORDER BY id")]


def _arrow_table(kind: str, backend: Any, table: str) -> pa.Table:
    if kind == "duckdb":
        conn = duckdb.connect(backend.props["path"], read_only=True)
        try:
            return conn.sql(f'SELECT * FROM "{table}"').to_arrow_table()
        finally:
            conn.close()
    folder = Path(backend.props["root"]) / table
    if kind == "csv":  # typed by the schema the manifest records
        schema = decode_schema(json.loads((folder / "_manifest.json").read_text())["schema"])
        options = pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        parts = sorted(folder.glob("*.csv"))
        return pa.concat_tables(pacsv.read_csv(p, convert_options=options) for p in parts)
    return pa.concat_tables(pq.read_table(p) for p in sorted(folder.glob("*.parquet")))


def same(mode: str, src: Any, tgt: Any) -> bool:
    if src is None or tgt is None:
        return src is None and tgt is None
    if mode == "text":
        return isinstance(tgt, str) and tgt == src
    if mode == "json":
        return _json(tgt) == _json(src)
    return _same_value(src, tgt)


def _json(value: Any) -> Any:
    return json.loads(value, parse_float=Decimal) if isinstance(value, str) else value


def _same_value(src: Any, tgt: Any) -> bool:
    if src is None or tgt is None:
        return src is None and tgt is None
    if isinstance(src, bool):
        return bool(tgt is src or tgt == int(src))
    if isinstance(src, int):
        return not isinstance(tgt, float) and int(tgt) == src
    if isinstance(src, float):
        value = float(tgt)
        if math.isnan(src):
            return math.isnan(value)
        return struct.pack(">d", src) == struct.pack(">d", value)
    if isinstance(src, Decimal):
        value = Decimal(str(tgt))
        if src.is_nan():
            return value.is_nan()
        return format(src, "f") == format(value, "f")
    if isinstance(src, datetime):
        value = tgt if isinstance(tgt, datetime) else datetime.fromisoformat(str(tgt))
        if src.tzinfo is not None:
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return bool(value == src)
    if isinstance(src, date):
        return (tgt if isinstance(tgt, date) else date.fromisoformat(str(tgt))) == src
    if isinstance(src, time):
        if isinstance(tgt, timedelta):
            tgt = (datetime.min + tgt).time()
        return (tgt if isinstance(tgt, time) else time.fromisoformat(str(tgt))) == src
    if isinstance(src, bytes | memoryview):
        return bytes(tgt) == bytes(src)
    if isinstance(src, UUID):
        return str(tgt).lower() == str(src)
    if isinstance(src, list):
        items = json.loads(tgt, parse_float=Decimal) if isinstance(tgt, str) else tgt
        return len(items) == len(src) and all(
            _same_value(a, b) for a, b in zip(src, items, strict=True)
        )
    if isinstance(src, Interval):  # against an Arrow MonthDayNano or ISO 8601 text
        months, days, nanos = src
        if isinstance(tgt, str):
            match = _ISO_INTERVAL.match(tgt)
            if match is None:
                return False
            seconds = Decimal(match.group(3)) * 1_000_000_000
            return (int(match.group(1)), int(match.group(2)), seconds) == (months, days, nanos)
        return (tgt.months, tgt.days, tgt.nanoseconds) == (months, days, nanos)
    if isinstance(src, dict):
        return bool(_json(tgt) == src)
    return bool(tgt == src)
