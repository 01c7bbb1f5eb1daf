"""Snowflake source: result batches fetched as Arrow (``fetch_arrow_batches``).

A read is one ``SELECT`` (a table, or a custom query as a subquery) with the incremental
cursor as a bound ``>``/``>=`` condition. The driver downloads the result's chunks one at a
time as the batches are consumed, so memory is bounded by a chunk, whatever the table size.
Each chunk is conformed to the catalogue's Arrow types (see :mod:`.types` for timestamps and
semi-structured values). Cancelling aborts the running query server-side.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.arrowutil import conform
from headwater.connectors.base import Column, ReadRequest, Source, Table, TableRef
from headwater.connectors.errors import ConnectorError, ObjectNotFound
from headwater.connectors.snowflake.conn import (
    check_reachable,
    connect,
    fold,
    ident,
    qualified,
    run,
    translate,
    unfold,
)
from headwater.connectors.snowflake.types import column_from_info, read_expression
from headwater.connectors.sqltext import quote_ident

log = logging.getLogger(__name__)

_COLUMNS = (
    "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, "
    "CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE FROM {database}.INFORMATION_SCHEMA.COLUMNS "
    "WHERE TABLE_SCHEMA = ?{extra} ORDER BY TABLE_NAME, ORDINAL_POSITION"
)
#: Result metadata type codes of ``snowflake.connector.constants.FIELD_TYPES``.
_TYPE_CODES = {
    0: "NUMBER",
    1: "FLOAT",
    2: "TEXT",
    3: "DATE",
    4: "TIMESTAMP_LTZ",
    5: "VARIANT",
    6: "TIMESTAMP_LTZ",
    7: "TIMESTAMP_TZ",
    8: "TIMESTAMP_NTZ",
    9: "OBJECT",
    10: "ARRAY",
    11: "BINARY",
    12: "TIME",
    13: "BOOLEAN",
}


def _rows_to_columns(props: Mapping[str, Any], rows: list[tuple[Any, ...]]) -> list[Column]:
    return [
        column_from_info(unfold(str(r[1]), props), str(r[2]), r[3], r[4], r[5], r[6] == "YES")
        for r in rows
    ]


def fetch_columns(conn: Any, props: Mapping[str, Any], schema: str, name: str) -> list[Column]:
    """The columns of one table (none when it does not exist)."""
    database = quote_ident(fold(str(props["database"]), props))
    rows = run(
        conn,
        _COLUMNS.format(database=database, extra=" AND TABLE_NAME = ?"),
        (fold(schema, props), fold(name, props)),
    )
    return _rows_to_columns(props, rows)


class SnowflakeSource(Source):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self._lock = threading.Lock()
        self._running: list[Any] = []

    def _schema(self, schema: str | None = None) -> str:
        return schema or str(self.props.get("schema") or "PUBLIC")

    def _what(self, name: str = "") -> str:
        return f"Snowflake {self.props['account']}/{self.props['database']} {name}".rstrip()

    def test(self) -> None:
        check_reachable(self.props)

    def discover(self, schema: str | None = None) -> list[Table]:
        schema = self._schema(schema)
        database = quote_ident(fold(str(self.props["database"]), self.props))
        conn = connect(self.props)
        try:
            rows = run(
                conn, _COLUMNS.format(database=database, extra=""), (fold(schema, self.props),)
            )
        except Exception as exc:
            raise translate(exc, self._what(schema)) from None
        finally:
            conn.close()
        tables: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            tables.setdefault(str(row[0]), []).append(row)
        return [
            Table(
                TableRef(unfold(name, self.props), schema),
                tuple(_rows_to_columns(self.props, table_rows)),
            )
            for name, table_rows in tables.items()
            if not name.startswith("_HW_STAGE_")
        ]

    def describe(self, ref: TableRef) -> Table:
        ref = TableRef(ref.name, self._schema(ref.schema))
        conn = connect(self.props)
        try:
            columns = fetch_columns(conn, self.props, str(ref.schema), ref.name)
        except Exception as exc:
            raise translate(exc, self._what(ref.display())) from None
        finally:
            conn.close()
        if not columns:
            raise ObjectNotFound(f"{self._what()}: table {ref.display()} does not exist")
        return Table(ref, tuple(columns))

    def describe_query(self, query: str) -> tuple[Column, ...]:
        """The query's result metadata, from a ``LIMIT 0`` run of it."""
        conn = connect(self.props)
        try:
            cursor = conn.cursor()
            cursor.execute(f"SELECT * FROM ({_bare(query)}) LIMIT 0")
            description = list(cursor.description or [])
        except Exception as exc:
            raise translate(exc, self._what("custom query")) from None
        finally:
            conn.close()
        return tuple(
            column_from_info(
                unfold(str(d.name), self.props),
                _TYPE_CODES.get(int(d.type_code), "TEXT"),
                d.precision,
                d.scale,
                d.internal_size,
                bool(d.is_nullable),
            )
            for d in description
        )

    def _statement(self, request: ReadRequest) -> tuple[str, list[Any]]:
        items = ", ".join(read_expression(c, ident(c.name, self.props)) for c in request.columns)
        if request.table is not None:
            source = qualified(self._schema(request.table.schema), request.table.name, self.props)
        else:
            source = f'({_bare(request.query or "")}) AS "_hw_query"'
        params: list[Any] = []
        where = ""
        if request.cursor is not None:
            column = next(c for c in request.columns if c.name == request.cursor.column)
            op = ">=" if request.cursor.inclusive else ">"
            where = f" WHERE {ident(column.name, self.props)} {op} {_bound(column)}"
            params.append(_parameter(request.cursor.value))
        return f"SELECT {items} FROM {source}{where}", params

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        what = self._what(request.describe())
        statement, params = self._statement(request)
        conn = connect(self.props)
        cursor = conn.cursor()
        with self._lock:
            self._running.append(cursor)
        try:
            cursor.execute(statement, params or None)
            for chunk in cursor.fetch_arrow_batches():  # a pyarrow Table per result chunk
                for raw in chunk.to_batches():
                    if raw.num_rows:
                        yield conform(_timestamps(raw, request.columns), request.columns, what)
        except ConnectorError:
            raise
        except Exception as exc:
            raise translate(exc, what) from None
        finally:
            with self._lock:
                self._running.remove(cursor)
            with contextlib.suppress(Exception):
                conn.close()

    def cancel(self) -> None:
        with self._lock:
            cursors = list(self._running)
        for cursor in cursors:
            with contextlib.suppress(Exception):
                if cursor.sfqid:
                    cursor.abort_query(cursor.sfqid)


def _bare(query: str) -> str:
    return query.strip().rstrip(";")


def _bound(column: Column) -> str:
    """The placeholder of a cursor value, cast to the column's type."""
    kind = column.source_type.split("(")[0]
    if kind.startswith("TIMESTAMP"):
        return f"CAST(? AS {'TIMESTAMP_NTZ' if kind == 'TIMESTAMP_NTZ' else 'TIMESTAMP_TZ'}(9))"
    if kind == "DATE":
        return "CAST(? AS DATE)"
    if kind == "NUMBER":
        return f"CAST(? AS {column.source_type})"
    return "?"


def _parameter(value: Any) -> Any:
    """A cursor value as a bound parameter: dates and times as ISO text (cast in SQL)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)


def _timestamps(batch: pa.RecordBatch, columns: tuple[Column, ...]) -> pa.RecordBatch:
    """Timestamp columns arrive as microseconds since the epoch: typed as timestamps."""
    arrays = list(batch.columns)
    for index, column in enumerate(columns):
        if pa.types.is_timestamp(column.arrow_type) and not pa.types.is_timestamp(
            arrays[index].type
        ):
            micros = pc.cast(arrays[index], pa.int64())
            arrays[index] = micros.view(column.arrow_type)
    return pa.RecordBatch.from_arrays(arrays, names=[c.name for c in columns])
