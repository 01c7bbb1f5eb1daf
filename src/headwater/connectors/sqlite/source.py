"""SQLite source: rows fetched in slices and converted to Arrow by declared column type."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from headwater.connectors.arrowutil import estimated_row_bytes, rows_for_bytes
from headwater.connectors.base import Column, ReadRequest, Source, Table, TableRef
from headwater.connectors.errors import ObjectNotFound
from headwater.connectors.loaders import RunningReads
from headwater.connectors.sqlite.conn import check_readable, open_sandboxed, translate
from headwater.connectors.sqlite.convert import rows_to_batch, writer_for
from headwater.connectors.sqlite.types import column_from_pragma
from headwater.connectors.sqltext import quote_ident


def open_readonly(path: str) -> sqlite3.Connection:
    return open_sandboxed(path, readonly=True, check_same_thread=False)


def table_columns(conn: sqlite3.Connection, name: str) -> list[Column]:
    rows = conn.execute(
        'SELECT name, type, "notnull", pk FROM pragma_table_info(?)', (name,)
    ).fetchall()
    return [column_from_pragma(r[0], r[1], not r[2], bool(r[3])) for r in rows]


class SQLiteSource(Source):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self.path = str(props["path"])
        self._reads: RunningReads[sqlite3.Connection] = RunningReads()

    def test(self) -> None:
        check_readable(open_readonly(self.path), self.path)

    def discover(self, schema: str | None = None) -> list[Table]:
        conn = open_readonly(self.path)
        try:
            names = conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            ).fetchall()
            return [Table(TableRef(n), tuple(table_columns(conn, n))) for (n,) in names]
        finally:
            conn.close()

    def describe(self, ref: TableRef) -> Table:
        conn = open_readonly(self.path)
        try:
            columns = table_columns(conn, ref.name)
        finally:
            conn.close()
        if not columns:
            raise ObjectNotFound(f"SQLite {self.path}: table {ref.name} does not exist")
        return Table(TableRef(ref.name), tuple(columns))

    def describe_query(self, query: str) -> tuple[Column, ...]:
        """Column names from the cursor; types from the first row's storage classes."""
        conn = open_readonly(self.path)
        try:
            cursor = conn.execute(f"SELECT * FROM ({query.strip().rstrip(';')}) LIMIT 1")
            row = cursor.fetchone()
            names = [d[0] for d in cursor.description]
        except sqlite3.Error as exc:
            raise translate(exc, f"SQLite {self.path} custom query") from None
        finally:
            conn.close()
        declared = {int: "INTEGER", float: "REAL", bytes: "BLOB", str: "TEXT"}
        return tuple(
            column_from_pragma(name, declared.get(type(row[i]), "") if row else "", True, False)
            for i, name in enumerate(names)
        )

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        what = f"SQLite {self.path} {request.describe()}"
        items = ", ".join(quote_ident(c.name) for c in request.columns)
        if request.table is not None:
            source = quote_ident(request.table.name)
        else:
            source = f"({(request.query or '').strip().rstrip(';')})"
        query, params = f"SELECT {items} FROM {source}", []
        if request.cursor is not None:
            column = next(c for c in request.columns if c.name == request.cursor.column)
            op = ">=" if request.cursor.inclusive else ">"
            query += f" WHERE {quote_ident(request.cursor.column)} {op} ?"
            params.append(_bind(request.cursor.value, column))
        size = rows_for_bytes(estimated_row_bytes(request.columns), request.batch_bytes)
        conn = open_readonly(self.path)
        with self._reads.running(conn):
            try:
                cursor = conn.execute(query, params)
                while rows := cursor.fetchmany(size):
                    yield rows_to_batch(rows, list(request.columns), what)
            except sqlite3.Error as exc:
                raise translate(exc, what) from None

    def cancel(self) -> None:
        self._reads.interrupt_all()


def _bind(value: Any, column: Column) -> Any:
    """Cursor values in the stored representation, so text comparison orders correctly."""
    writer = writer_for(column.arrow_type)
    return value if writer is None or value is None else writer(value)
