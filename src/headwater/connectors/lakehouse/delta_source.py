"""The Delta source: the table's files as a pyarrow dataset, optionally at an older version.

Per-table source options: ``version`` (an integer log version) or ``timestamp`` (ISO 8601: the
table as it was then) for time travel. The cursor becomes a dataset filter, which skips files
by their statistics and filters the rows of the files it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from headwater.connectors.arrowutil import schema_of
from headwater.connectors.base import Column, ReadRequest, Source, Table, TableRef
from headwater.connectors.errors import ConfigurationError, ObjectNotFound
from headwater.connectors.lakehouse.common import conform_to, rechunk
from headwater.connectors.lakehouse.delta_conn import DeltaConnection
from headwater.connectors.lakehouse.delta_types import ARROW_TYPE_KEY, table_columns

_OPTIONS = ("version", "timestamp")


class DeltaSource(Source):
    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(props)
        self.conn = DeltaConnection(self.props)
        self.version: int | None = None
        self.as_of: datetime | None = None

    def configure(
        self, options: Mapping[str, Any], log: Callable[[str, str], None] | None = None
    ) -> None:
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigurationError(
                f"{self.conn.what}: unknown source option(s) {', '.join(unknown)} "
                "(known: version, timestamp)"
            )
        try:
            if options.get("version") is not None:
                self.version = int(options["version"])
            if options.get("timestamp") is not None:
                text = str(options["timestamp"]).replace("Z", "+00:00")
                self.as_of = datetime.fromisoformat(text)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"{self.conn.what}: version must be an integer and timestamp ISO 8601"
            ) from None

    def test(self) -> None:
        with self.conn.storage.errors(""):
            self.conn.storage.fs.ls(self.conn.storage.root, detail=False)

    def close(self) -> None:
        self.conn.close()

    def _table(self, ref: TableRef) -> Any:
        table = self.conn.open(ref, self.version)
        if table is None:
            raise ObjectNotFound(f"{self.conn.what}: table {ref.display()!r} does not exist")
        if self.as_of is not None:
            with self.conn.errors(ref.display()):
                table.load_as_version(self.as_of)
        return table

    def discover(self, schema: str | None = None) -> list[Table]:
        schema = schema or self.conn.schema
        return [self.describe(TableRef(n, schema)) for n in self.conn.tables(schema)]

    def describe(self, ref: TableRef) -> Table:
        return Table(ref, table_columns(self._table(ref)))

    def describe_query(self, query: str) -> tuple[Column, ...]:
        raise ConfigurationError(f"{self.conn.what}: a Delta source reads tables, not SQL")

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        if request.table is None:
            raise ConfigurationError(f"{self.conn.what}: a Delta source reads tables, not SQL")
        table = self._table(request.table)
        where = f"{self.conn.what} {request.table.display()}"
        names = [c.name for c in request.columns]
        with self.conn.errors(request.table.display()):
            dataset = table.to_pyarrow_dataset()
            expression = None
            cursor = request.cursor
            if cursor is not None:
                field = dataset.schema.field(cursor.column)
                if field.metadata and ARROW_TYPE_KEY.encode() in field.metadata:
                    raise ConfigurationError(f"{where}: a time column cannot be a cursor")
                value = pa.scalar(cursor.value).cast(field.type)
                column = ds.field(cursor.column)
                expression = column >= value if cursor.inclusive else column > value
            batches = dataset.to_batches(columns=names, filter=expression)
            schema = schema_of(request.columns)
            for batch in rechunk(batches, request.batch_bytes):
                yield conform_to(batch, schema, where)
