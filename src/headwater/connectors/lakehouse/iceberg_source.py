"""The Iceberg source: a table scan, filtered by the cursor for incremental reads.

The cursor becomes the scan's row filter, which pyiceberg uses to skip whole data files by
their column statistics and then applies to the rows of the files it reads. ``snapshot_id``
(a per-table source option) reads the table as of that snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from headwater.connectors.arrowutil import schema_of
from headwater.connectors.base import Column, CursorFilter, ReadRequest, Source, Table, TableRef
from headwater.connectors.errors import ConfigurationError, ObjectNotFound
from headwater.connectors.lakehouse.common import conform_to, rechunk
from headwater.connectors.lakehouse.iceberg_target import IcebergConnection
from headwater.connectors.lakehouse.iceberg_types import table_columns


def row_filter(cursor: CursorFilter | None) -> Any:
    """The pyiceberg expression for a cursor (timestamps and dates as ISO text, which
    pyiceberg converts to the column's type)."""
    from pyiceberg.expressions import AlwaysTrue, GreaterThan, GreaterThanOrEqual

    if cursor is None:
        return AlwaysTrue()
    value = cursor.value
    if isinstance(value, datetime | date):
        value = value.isoformat()
    compare = GreaterThanOrEqual if cursor.inclusive else GreaterThan
    return compare(term=cursor.column, value=value)


class IcebergSource(Source):
    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(props)
        self.conn = IcebergConnection(self.props)
        self.snapshot_id: int | None = None

    def configure(
        self, options: Mapping[str, Any], log: Callable[[str, str], None] | None = None
    ) -> None:
        unknown = sorted(set(options) - {"snapshot_id"})
        if unknown:
            raise ConfigurationError(
                f"{self.conn.what}: unknown source option(s) {', '.join(unknown)} "
                "(known: snapshot_id)"
            )
        if options.get("snapshot_id") is not None:
            try:
                self.snapshot_id = int(options["snapshot_id"])
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"{self.conn.what}: snapshot_id must be an integer"
                ) from None

    def close(self) -> None:
        self.conn.close()

    def test(self) -> None:
        with self.conn.errors("catalog"):
            self.conn.catalog.list_namespaces()

    def discover(self, schema: str | None = None) -> list[Table]:
        namespace = schema or self.conn.namespace
        return [self.describe(TableRef(n, namespace)) for n in self.conn.tables(namespace)]

    def _table(self, ref: TableRef) -> Any:
        table = self.conn.load(ref)
        if table is None:
            raise ObjectNotFound(f"{self.conn.what}: table {ref.display()!r} does not exist")
        return table

    def describe(self, ref: TableRef) -> Table:
        return Table(ref, table_columns(self._table(ref)))

    def describe_query(self, query: str) -> tuple[Column, ...]:
        raise ConfigurationError(f"{self.conn.what}: an Iceberg source reads tables, not SQL")

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        if request.table is None:
            raise ConfigurationError(f"{self.conn.what}: an Iceberg source reads tables, not SQL")
        table = self._table(request.table)
        schema = schema_of(request.columns)
        where = f"{self.conn.what} {request.table.display()}"
        with self.conn.errors(request.table.display()):
            if self.snapshot_id is not None and table.snapshot_by_id(self.snapshot_id) is None:
                raise ObjectNotFound(f"{where}: no snapshot {self.snapshot_id}")
            scan = table.scan(
                row_filter=row_filter(request.cursor),
                selected_fields=tuple(c.name for c in request.columns),
                snapshot_id=self.snapshot_id,
            )
            reader = scan.to_arrow_batch_reader()
            for batch in rechunk(reader, request.batch_bytes):
                yield conform_to(batch, schema, where)
