"""MySQL/MariaDB source.

Fast path: ConnectorX (Rust) reads straight into Arrow. Its stream reader runs ahead of a slow
consumer without limit, so a table with a single-column primary key is read in keyset chunks
(``WHERE pk > last ORDER BY pk LIMIT n``): memory is bounded by one chunk whatever the table
size. Custom queries and tables without such a key stream through PyMySQL's unbuffered cursor
(bounded, slower). Without a shared snapshot across chunks or parallel ranges, a table written
to during the copy may be read at several points in time (``Capabilities.snapshot`` is False).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC
from typing import Any

import pyarrow as pa

from headwater.connectors.arrowutil import conform, estimated_row_bytes, rows_for_bytes
from headwater.connectors.base import (
    Column,
    KeyRange,
    ReadRequest,
    Source,
    Table,
    TableRef,
    even_key_ranges,
)
from headwater.connectors.changes import ChangeReader
from headwater.connectors.errors import ConfigurationError, ConnectorError, ObjectNotFound
from headwater.connectors.memory import release_freed_memory
from headwater.connectors.mysql import held
from headwater.connectors.mysql.conn import (
    SESSION_SETUP,
    check_identifier,
    check_reachable,
    connect,
    connectorx_url,
    kill_queries,
    literal,
    translate,
)
from headwater.connectors.mysql.exact import (
    check_booleans,
    date_columns,
    zero_date_error,
    zero_date_sql,
)
from headwater.connectors.mysql.types import column_from_info, read_expression
from headwater.connectors.sqltext import qualified, quote_backtick

log = logging.getLogger(__name__)

COLUMNS_SQL = (
    "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, NUMERIC_PRECISION, "
    "NUMERIC_SCALE, CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION"
)
JSON_CHECKS_SQL = (
    "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s"
)
_CHUNKS_PER_KEYSET = 2  # rows per keyset query, in batches: bounds what ConnectorX buffers


def fetch_columns(cursor: Any, schema: str, name: str) -> list[Column]:
    cursor.execute(COLUMNS_SQL, (schema, name))
    rows = cursor.fetchall()
    json_columns: set[str] = set()
    with contextlib.suppress(Exception):  # MySQL 8 has a real JSON type and no such checks
        cursor.execute(JSON_CHECKS_SQL, (schema, name))
        for (clause,) in cursor.fetchall():
            text = str(clause).strip()
            if text.lower().startswith("json_valid(") and text.endswith(")"):
                json_columns.add(_unquote(text[len("json_valid(") : -1].strip()))
    return [column_from_info(row, json_columns) for row in rows]


def _array(values: list[Any], column: Column) -> pa.Array:
    """PyMySQL values as Arrow; integers typed up front (``bigint unsigned`` above 2**63 does
    not fit the int64 that inference picks)."""
    if pa.types.is_integer(column.arrow_type):
        return pa.array(values, column.arrow_type)
    return pa.array(values)


def _conform(raw: pa.RecordBatch, columns: Sequence[Column], what: str) -> pa.RecordBatch:
    check_booleans(raw, columns, what)
    return conform(raw, columns, what)


def _unquote(ident: str) -> str:
    """A column name as a CHECK clause spells it: backticked, with inner backticks doubled."""
    if len(ident) >= 2 and ident[0] == ident[-1] == "`":
        return ident[1:-1].replace("``", "`")
    return ident


class MySQLSource(Source):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self._lock = threading.Lock()
        self._threads: set[int] = set()
        self._tag = f"hw:{uuid.uuid4().hex}"

    def _what(self, name: str = "") -> str:
        return f"MySQL {self.props['host']}/{self.props['database']} {name}".rstrip()

    def test(self) -> None:
        check_reachable(self.props)

    def discover(self, schema: str | None = None) -> list[Table]:
        schema = schema or str(self.props["database"])
        conn = connect(self.props)
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "ORDER BY TABLE_NAME",
                    (schema,),
                )
                names = [row[0] for row in cursor.fetchall()]
                return [
                    Table(TableRef(n, schema), tuple(fetch_columns(cursor, schema, n)))
                    for n in names
                ]
        finally:
            conn.close()

    def estimate_rows(self, schema: str | None = None) -> dict[str, int]:
        """InnoDB's ``TABLE_ROWS`` estimate from ``information_schema``."""
        conn = connect(self.props)
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_ROWS IS NOT NULL",
                    (schema or str(self.props["database"]),),
                )
                return {str(name): int(count) for name, count in cursor.fetchall()}
        finally:
            conn.close()

    def change_reader(self, name: str) -> ChangeReader:
        from headwater.connectors.mysql.cdc import MySQLChangeReader

        return MySQLChangeReader(self.props, name, lambda ref: self.describe(ref).columns)

    def describe(self, ref: TableRef) -> Table:
        ref = TableRef(ref.name, ref.schema or str(self.props["database"]))
        for name in (ref.name, str(ref.schema)):
            check_identifier(name, self._what(ref.display()))
        conn = connect(self.props)
        try:
            with conn.cursor() as cursor:
                columns = fetch_columns(cursor, str(ref.schema), ref.name)
        except Exception as exc:
            raise translate(exc, self._what(ref.display())) from None
        finally:
            conn.close()
        if not columns:
            raise ObjectNotFound(f"{self._what()}: table {ref.display()} does not exist")
        return Table(ref, tuple(columns))

    def describe_query(self, query: str) -> tuple[Column, ...]:
        """Columns of a query, via a temporary view (dropped right away)."""
        view = f"_hw_query_{uuid.uuid4().hex[:12]}"
        conn = connect(self.props)
        try:
            with conn.cursor() as cursor:
                try:
                    cursor.execute(
                        f"CREATE VIEW {quote_backtick(view)} AS {query.strip().rstrip(';')}"
                    )
                    return tuple(fetch_columns(cursor, str(self.props["database"]), view))
                except Exception as exc:
                    raise translate(exc, self._what("custom query")) from None
                finally:
                    with contextlib.suppress(Exception):
                        cursor.execute(f"DROP VIEW IF EXISTS {quote_backtick(view)}")
        finally:
            conn.close()

    # -- reading ------------------------------------------------------------------------------

    def _source_sql(self, request: ReadRequest) -> str:
        if request.table is not None:
            return qualified(
                request.table.schema or str(self.props["database"]), request.table.name, quote="`"
            )
        return f"({(request.query or '').strip().rstrip(';')}) AS `_hw_query`"

    def _conditions(self, request: ReadRequest) -> list[str]:
        conditions = []
        if request.cursor is not None:
            op = ">=" if request.cursor.inclusive else ">"
            value = request.cursor.value
            if getattr(value, "tzinfo", None) is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            conditions.append(f"{quote_backtick(request.cursor.column)} {op} {literal(value)}")
        if request.key_range is not None:
            key = quote_backtick(request.key_range.column)
            if request.key_range.lower is not None:
                conditions.append(f"{key} >= {literal(request.key_range.lower)}")
            if request.key_range.upper is not None:
                conditions.append(f"{key} < {literal(request.key_range.upper)}")
        return conditions

    def _statement(self, request: ReadRequest, extra: list[str], suffix: str = "") -> str:
        items = ", ".join(read_expression(c) for c in request.columns)
        conditions = [*self._conditions(request), *extra]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"SELECT /* {self._tag} */ {items} FROM {self._source_sql(request)}{where}{suffix}"

    def _zero_date(
        self, request: ReadRequest, what: str, exc: BaseException
    ) -> ConnectorError | None:
        """After a read failed converting a value: the error naming a zero date of the
        request, if it holds one (ConnectorX panics on them without naming the column, PyMySQL
        returns them as text). Other failures (a cancel, a lost connection) are left alone."""
        columns = date_columns(request.columns)
        conversion = isinstance(exc, pa.ArrowException) or "convert the value" in str(exc)
        if not columns or not conversion:
            return None
        conn = connect(self.props)
        try:
            with conn.cursor() as cursor:
                for column in columns:
                    sql = zero_date_sql(
                        column, self._source_sql(request), self._conditions(request)
                    )
                    cursor.execute(sql)
                    row = cursor.fetchone()
                    if row is not None:
                        return zero_date_error(column, str(row[0]), what)
        except Exception:  # the diagnosis is best effort: the original error stands
            return None
        finally:
            conn.close()
        return None

    def _keyset_column(self, request: ReadRequest) -> Column | None:
        if request.table is None:
            return None
        keys = [c for c in self.describe(request.table).columns if c.primary_key]
        if len(keys) != 1:
            return None
        key = next((c for c in request.columns if c.name == keys[0].name), None)
        if key is None or key.semantic is not None or pa.types.is_floating(key.arrow_type):
            return None
        return key

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        what = self._what(request.describe())
        rows = rows_for_bytes(estimated_row_bytes(request.columns), request.batch_bytes)
        if held.is_held(request.snapshot):
            yield from self._read_held(request, rows, what)
            return
        key = self._keyset_column(request)
        try:
            import connectorx  # noqa: F401
        except ImportError:
            key = None
        if key is None:
            yield from self._read_pymysql(request, rows, what)
        else:
            yield from self._read_keyset(request, key, rows, what)

    def _read_keyset(
        self, request: ReadRequest, key: Column, rows: int, what: str
    ) -> Iterator[pa.RecordBatch]:
        import connectorx as cx

        chunk = rows * _CHUNKS_PER_KEYSET
        index = list(request.columns).index(key)
        ident = quote_backtick(key.name)
        last: Any = None
        while True:
            extra = [] if last is None else [f"{ident} > {literal(last)}"]
            statement = self._statement(request, extra, f" ORDER BY {ident} LIMIT {chunk}")
            count = 0
            try:
                reader = cx.read_sql(
                    connectorx_url(self.props),
                    statement,
                    return_type="arrow_stream",
                    batch_size=rows,
                    pre_execution_query=list(SESSION_SETUP),
                )
                for raw in reader:
                    if raw.num_rows:
                        batch = _conform(raw, request.columns, what)
                        count += batch.num_rows
                        last = batch.column(index)[-1].as_py()
                        yield batch
            except ConnectorError:
                raise
            except BaseException as exc:  # ConnectorX raises RuntimeError or a Rust panic
                if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
                    raise
                raise (self._zero_date(request, what, exc) or translate(exc, what)) from None
            release_freed_memory()
            if count < chunk:
                return

    def _read_held(self, request: ReadRequest, rows: int, what: str) -> Iterator[pa.RecordBatch]:
        """Read through the change reader's snapshot transaction (``mysql.held``)."""
        assert request.snapshot is not None
        with contextlib.ExitStack() as stack:
            try:
                conn = stack.enter_context(held.borrow(request.snapshot))
            except KeyError:
                raise ConfigurationError(f"{what}: the snapshot is no longer open") from None
            yield from self._read_pymysql(request, rows, what, conn)

    def _read_pymysql(
        self, request: ReadRequest, rows: int, what: str, snapshot_conn: Any = None
    ) -> Iterator[pa.RecordBatch]:
        conn = snapshot_conn or connect(self.props, streaming=True)
        thread_id = conn.thread_id()
        with self._lock:
            self._threads.add(thread_id)
        try:
            with conn.cursor() as cursor:
                cursor.execute(self._statement(request, []))
                names = [c.name for c in request.columns]
                while fetched := cursor.fetchmany(rows):
                    arrays = [
                        _array(list(values), column)
                        for values, column in zip(
                            zip(*fetched, strict=True), request.columns, strict=True
                        )
                    ]
                    raw = pa.RecordBatch.from_arrays(arrays, names=names)
                    yield _conform(raw, request.columns, what)
        except ConnectorError:
            raise
        except Exception as exc:
            raise (self._zero_date(request, what, exc) or translate(exc, what)) from None
        finally:
            with self._lock:
                self._threads.discard(thread_id)
            if snapshot_conn is None:
                with contextlib.suppress(Exception):
                    conn.close()

    def plan_key_ranges(self, ref: TableRef, column: str, parts: int) -> list[KeyRange]:
        ref = TableRef(ref.name, ref.schema or str(self.props["database"]))
        conn = connect(self.props)
        try:
            with conn.cursor() as cursor:
                ident = quote_backtick(column)
                cursor.execute(
                    f"SELECT MIN({ident}), MAX({ident}) FROM "
                    f"{qualified(ref.schema, ref.name, quote='`')}"
                )
                row = cursor.fetchone()
        except Exception as exc:
            raise translate(exc, self._what(ref.display())) from None
        finally:
            conn.close()
        return even_key_ranges(column, row, parts)

    def cancel(self) -> None:
        with self._lock:
            threads = sorted(self._threads)
        try:
            kill_queries(self.props, thread_ids=threads, tag=self._tag)
        except ConnectorError as exc:
            log.warning("Could not cancel MySQL queries: %s", exc)
