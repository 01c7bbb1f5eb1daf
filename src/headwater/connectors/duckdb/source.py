"""DuckDB source: Arrow record batches straight from DuckDB's Arrow export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from headwater.connectors.arrowutil import conform, estimated_row_bytes, rows_for_bytes
from headwater.connectors.base import Column, ReadRequest, Source, Table, TableRef
from headwater.connectors.duckdb.conn import connect, translate
from headwater.connectors.duckdb.types import column_from_describe, read_expression
from headwater.connectors.errors import ObjectNotFound
from headwater.connectors.loaders import RunningReads
from headwater.connectors.sqltext import qualified, quote_ident

DESCRIBE_SQL = (
    "SELECT c.column_name, c.data_type, c.is_nullable = 'YES', "
    "coalesce(list_contains(k.constraint_column_names, c.column_name), false) "
    "FROM information_schema.columns c "
    "LEFT JOIN duckdb_constraints() k ON k.schema_name = c.table_schema "
    "AND k.table_name = c.table_name AND k.constraint_type = 'PRIMARY KEY' "
    "WHERE c.table_schema = ? AND c.table_name = ? ORDER BY c.ordinal_position"
)


class DuckDBSource(Source):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self.path = str(props["path"])
        self._reads: RunningReads[duckdb.DuckDBPyConnection] = RunningReads()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return connect(self.path, must_exist=True)

    def test(self) -> None:
        conn = self._connect()
        try:
            conn.execute("SELECT 1")
        finally:
            conn.close()

    def discover(self, schema: str | None = None) -> list[Table]:
        conn = self._connect()
        try:
            names = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                "ORDER BY table_name",
                [schema or "main"],
            ).fetchall()
        finally:
            conn.close()
        return [self.describe(TableRef(name, schema or "main")) for (name,) in names]

    def describe(self, ref: TableRef) -> Table:
        ref = TableRef(ref.name, ref.schema or "main")
        conn = self._connect()
        try:
            rows = conn.execute(DESCRIBE_SQL, [ref.schema, ref.name]).fetchall()
        except duckdb.Error as exc:
            raise translate(exc, f"DuckDB {self.path} {ref.display()}") from None
        finally:
            conn.close()
        if not rows:
            raise ObjectNotFound(f"DuckDB {self.path}: table {ref.display()} does not exist")
        return Table(ref, tuple(column_from_describe(*row) for row in rows))

    def describe_query(self, query: str) -> tuple[Column, ...]:
        conn = self._connect()
        try:
            rows = conn.sql(f"DESCRIBE {query.strip().rstrip(';')}").fetchall()
        except duckdb.Error as exc:
            raise translate(exc, f"DuckDB {self.path} custom query") from None
        finally:
            conn.close()
        return tuple(column_from_describe(r[0], r[1], r[2] != "NO") for r in rows)

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        what = f"DuckDB {self.path} {request.describe()}"
        items = ", ".join(read_expression(c) for c in request.columns)
        if request.table is not None:
            source = qualified(request.table.schema or "main", request.table.name)
        else:
            source = f"({(request.query or '').strip().rstrip(';')}) AS _hw_query"
        conditions, params = [], []
        if request.cursor is not None:
            op = ">=" if request.cursor.inclusive else ">"
            conditions.append(f"{quote_ident(request.cursor.column)} {op} ?")
            params.append(request.cursor.value)
        if request.key_range is not None:
            if request.key_range.lower is not None:
                conditions.append(f"{quote_ident(request.key_range.column)} >= ?")
                params.append(request.key_range.lower)
            if request.key_range.upper is not None:
                conditions.append(f"{quote_ident(request.key_range.column)} < ?")
                params.append(request.key_range.upper)
        query = f"SELECT {items} FROM {source}"
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        rows = rows_for_bytes(estimated_row_bytes(request.columns), request.batch_bytes)
        conn = self._connect()
        with self._reads.running(conn):
            try:
                reader = conn.sql(query, params=params or None).to_arrow_reader(rows)
                for batch in reader:
                    if batch.num_rows:
                        yield conform(batch, request.columns, what)
            except duckdb.Error as exc:
                raise translate(exc, what) from None

    def cancel(self) -> None:
        self._reads.interrupt_all()
