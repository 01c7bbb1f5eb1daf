"""REST API source: each table is an endpoint whose JSON records become rows.

Columns are inferred from the first page (nested objects as JSON text or flattened into
``parent__child`` columns, overridable by name). Reading walks the pages in order and yields
batches of about ``batch_bytes``; a failed page request is retried (see ``rest.client``) before
the next page is asked for, so no page is skipped or read twice. Incremental reads send the
committed cursor as a request parameter (e.g. ``updated_since``) and also drop records not
after it, since many APIs treat such a parameter as inclusive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.base import Column, CursorFilter, ReadRequest, Source, Table, TableRef
from headwater.connectors.errors import ConfigurationError, ValueRejected
from headwater.connectors.files.shape import (
    SEPARATOR,
    columns_for,
    infer_from_records,
    to_json_text,
)
from headwater.connectors.files.source import cursor_mask
from headwater.connectors.httpkit import safe_url
from headwater.connectors.rest.client import HttpClient
from headwater.connectors.rest.paging import (
    Endpoint,
    PageRequest,
    first_request,
    next_request,
    parse_endpoint,
    records_of,
)

LogFn = Callable[[str, str], None]


def _no_log(level: str, message: str) -> None:
    return None


def shape_record(record: Mapping[str, Any], nested: str) -> dict[str, Any]:
    """One record with nested values as JSON text or flattened (lists always as JSON)."""
    out: dict[str, Any] = {}

    def visit(prefix: str, value: Mapping[str, Any]) -> None:
        for key, item in value.items():
            name = f"{prefix}{key}"
            if isinstance(item, dict) and nested == "flatten" and item:
                visit(f"{name}{SEPARATOR}", item)
            elif isinstance(item, dict | list):
                out[name] = to_json_text(item)
            else:
                out[name] = item

    visit("", record)
    return out


def _array(values: list[Any], column: Column, where: str) -> pa.Array:
    """Values of one column as ``column.arrow_type``; strings are parsed (e.g. timestamps)."""
    try:
        return pa.array(values, type=column.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    texts = [None if v is None else v if isinstance(v, str) else to_json_text(v) for v in values]
    try:
        return pc.cast(pa.array(texts, pa.string()), column.arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueRejected(
            f"{where}: field {column.name!r} has a value that is not a valid "
            f"{column.source_type} ({exc}); declare its type in source_options.columns"
        ) from None


def records_batch(
    records: list[dict[str, Any]], columns: tuple[Column, ...], where: str
) -> pa.RecordBatch:
    arrays = [_array([r.get(c.name) for r in records], c, where) for c in columns]
    schema = pa.schema([pa.field(c.name, c.arrow_type) for c in columns])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _param_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class RestSource(Source):
    def __init__(self, props: Mapping[str, Any]) -> None:
        super().__init__(props)
        self.http = HttpClient(self.props)
        self.options: Mapping[str, Any] = {}
        self.log: LogFn = _no_log

    def configure(self, options: Mapping[str, Any], log: LogFn | None = None) -> None:
        self.options = dict(options)
        self.log = log or _no_log
        self.http.log = self.log

    def endpoint(self, name: str) -> Endpoint:
        return parse_endpoint(name, self.options, f"API table {name!r}")

    def test(self) -> None:
        self.http.request("GET", self.http.url(""))

    def close(self) -> None:
        self.http.close()

    def discover(self, schema: str | None = None) -> list[Table]:
        """An API has no catalogue: tables are the endpoints a river names."""
        return []

    def describe_query(self, query: str) -> tuple[Column, ...]:
        raise ConfigurationError("an API source has no SQL; name an endpoint as the table")

    def describe(self, ref: TableRef) -> Table:
        endpoint = self.endpoint(ref.name)
        where = f"API {endpoint.method} {safe_url(self.http.url(endpoint.path))}"
        _, records = next(self._pages(endpoint, None), (None, []))
        shaped = [shape_record(r, endpoint.nested) for r in records]
        schema = infer_from_records(shaped)
        missing = [n for n in endpoint.overrides if n not in schema.names]
        schema = pa.schema([*schema, *(pa.field(n, endpoint.overrides[n][0]) for n in missing)])
        if not len(schema):
            raise ConfigurationError(
                f"{where}: the first page has no records to infer columns from; "
                "declare them in source_options.columns"
            )
        columns = columns_for(
            schema,
            nested="json",  # already shaped above
            overrides=endpoint.overrides,
            primary_key=endpoint.primary_key,
            where=where,
        )
        return Table(ref, columns)

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        if request.table is None:
            raise ConfigurationError("an API source reads an endpoint, not a query")
        endpoint = self.endpoint(request.table.name)
        where = f"API {endpoint.method} {safe_url(self.http.url(endpoint.path))}"
        columns = request.columns
        known = {c.name for c in columns}
        pending: list[dict[str, Any]] = []
        size = 0
        warned = False
        for _, records in self._pages(endpoint, request.cursor):
            for record in records:
                shaped = shape_record(record, endpoint.nested)
                if not warned and set(shaped) - known:
                    warned = True
                    extra = ", ".join(sorted(set(shaped) - known)[:10])
                    self.log("info", f"{where}: fields not loaded: {extra}")
                pending.append(shaped)
                size += 24 * len(shaped)
            if size >= request.batch_bytes:
                yield from self._flush(pending, columns, request.cursor, where)
                pending, size = [], 0
        yield from self._flush(pending, columns, request.cursor, where)

    def _flush(
        self,
        records: list[dict[str, Any]],
        columns: tuple[Column, ...],
        cursor: CursorFilter | None,
        where: str,
    ) -> Iterator[pa.RecordBatch]:
        if not records:
            return
        batch = records_batch(records, columns, where)
        if cursor is not None:
            index = batch.schema.get_field_index(cursor.column)
            batch = batch.filter(cursor_mask(batch.column(index), cursor))
        if batch.num_rows:
            yield batch

    def _pages(
        self, endpoint: Endpoint, cursor: CursorFilter | None
    ) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        params = dict(endpoint.params)
        body = endpoint.body
        if cursor is not None and endpoint.incremental_param:
            value = _param_value(cursor.value)
            if endpoint.incremental_in == "body":
                body = {**(body or {}), endpoint.incremental_param: value}
            else:
                params[endpoint.incremental_param] = value
        page: PageRequest | None = first_request(
            endpoint, self.http.url(endpoint.path), params, body
        )
        while page is not None:
            response = self.http.request(
                endpoint.method,
                page.url,
                params=page.params,
                json_body=page.body if endpoint.method == "POST" else None,
                extra_headers=endpoint.headers,
            )
            where = f"{endpoint.method} {safe_url(page.url)} page {page.number}"
            try:
                payload = response.json() if response.content else None
            except ValueError:
                raise ValueRejected(f"{where}: the response is not JSON") from None
            records = records_of(payload, endpoint.records_path, where)
            yield page.number, records
            page = next_request(endpoint, page, response, payload, len(records))
