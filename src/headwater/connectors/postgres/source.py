"""PostgreSQL source: Arrow batches through ADBC, or raw binary COPY rows for a PostgreSQL target.

Both paths run ``COPY (SELECT ...) TO STDOUT`` on a connection of their own, so several key
ranges can be read in parallel, each inside a REPEATABLE READ transaction that can import a
snapshot exported by :meth:`PostgresSource.snapshot` (all ranges then see the same data).
The backend pid of every running read is tracked so :meth:`cancel` can
``pg_cancel_backend`` it from another thread.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import pq, sql

from headwater.connectors.arrowutil import conform
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
from headwater.connectors.errors import (
    ConnectorError,
    MissingDependency,
    ObjectNotFound,
    ValueRejected,
)
from headwater.connectors.postgres.conn import (
    adbc_uri,
    borrowed,
    cancel_backends,
    connect,
    give_back,
    lend,
    props_key,
    qualified,
    translate,
    translate_adbc,
)
from headwater.connectors.postgres.guards import refusal
from headwater.connectors.postgres.types import (
    as_text_form,
    fetch_columns,
    fetch_schema_columns,
    native_expression,
    read_expression,
)
from headwater.connectors.reuse import current_shelf

log = logging.getLogger(__name__)

#: Header of a binary COPY stream: signature, flags, header-extension length.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"
_CHUNK_BYTES = 1 << 20


class PostgresSource(Source):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self._pids: set[int] = set()
        self._lock = threading.Lock()

    # -- catalogue ---------------------------------------------------------------------------

    @property
    def default_schema(self) -> str:
        return str(self.props.get("schema") or "public")

    def _what(self, name: str = "") -> str:
        where = f"PostgreSQL {self.props['host']}/{self.props['database']}"
        return f"{where} {name}".rstrip()

    def test(self) -> None:
        with connect(self.props, autocommit=True) as conn:
            conn.execute("SELECT 1")

    def discover(self, schema: str | None = None) -> list[Table]:
        schema = schema or self.default_schema
        with connect(self.props, autocommit=True) as conn:
            names = conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                "ORDER BY c.relname",
                (schema,),
            ).fetchall()
            return [
                Table(TableRef(name, schema), tuple(fetch_columns(conn, TableRef(name, schema))))
                for (name,) in names
            ]

    def estimate_rows(self, schema: str | None = None) -> dict[str, int]:
        """``reltuples`` (set by ANALYZE and VACUUM), else the statistics collector's live-row
        count (a table never analyzed yet)."""
        with connect(self.props, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT c.relname, (CASE WHEN c.reltuples >= 0 THEN c.reltuples "
                "ELSE COALESCE(s.n_live_tup, 0) END)::bigint "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
                (schema or self.default_schema,),
            ).fetchall()
        return {str(name): int(count) for name, count in rows if count is not None and count >= 0}

    def describe(self, ref: TableRef) -> Table:
        ref = TableRef(ref.name, ref.schema or self.default_schema)
        columns = self._schema_columns(ref.schema).get(ref.name) if current_shelf() else None
        if not columns:  # no shared catalogue, or a table created since it was read
            with borrowed(self.props) as conn:
                columns = fetch_columns(conn, ref)
        if not columns:
            raise ObjectNotFound(f"{self._what()}: table {ref.display()} does not exist")
        return Table(ref, tuple(columns))

    def _schema_columns(self, schema: str | None) -> dict[str, list[Column]]:
        """Every table's columns of ``schema``, read once per run group (one catalogue query
        instead of one per table); only inside ``connectors.reuse.reusing``."""
        shelf = current_shelf()
        assert shelf is not None

        def read() -> dict[str, list[Column]]:
            with borrowed(self.props) as conn:
                return fetch_schema_columns(conn, schema or self.default_schema)

        return shelf.fact(("postgres columns", props_key(self.props), schema), read)

    def describe_query(self, query: str) -> tuple[Column, ...]:
        """Columns of a query, via a temporary view that is rolled back right away."""
        with connect(self.props) as conn:
            try:
                conn.execute(
                    sql.SQL("CREATE TEMP VIEW {} AS ").format(sql.Identifier("_hw_query"))
                    + sql.SQL(query.strip().rstrip(";"))
                )
                schema = conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()"
                ).fetchone()
                assert schema is not None
                columns = fetch_columns(conn, TableRef("_hw_query", schema[0]))
            except psycopg.Error as exc:
                raise translate(exc, self._what("custom query")) from None
            finally:
                # On a lost connection the rollback fails too; the error above is the one
                # that says what happened.
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
        return tuple(columns)

    def same_dialect_columns(self, columns: tuple[Column, ...]) -> tuple[Column, ...]:
        """Arrays and intervals go to a PostgreSQL target as their text form (exact)."""
        return tuple(as_text_form(c) for c in columns)

    # -- reading ------------------------------------------------------------------------------

    def select_statement(self, request: ReadRequest, *, native: bool) -> sql.Composed:
        """``SELECT cols FROM table|(query) WHERE cursor/range`` with quoted identifiers."""
        items: list[sql.Composable]
        if native:
            items = [native_expression(c) for c in request.columns]
        else:
            items = [read_expression(c) for c in request.columns]
        if request.table is not None:
            source: sql.Composable = qualified(
                request.table.schema or self.default_schema, request.table.name
            )
        elif request.query is not None:
            inner = sql.SQL(request.query.strip().rstrip(";"))
            source = sql.SQL("({}) AS {}").format(inner, sql.Identifier("_hw_query"))
        else:
            raise ValueError("a read needs a table or a query")
        conditions: list[sql.Composable] = []
        if request.cursor is not None:
            op = sql.SQL(">=" if request.cursor.inclusive else ">")
            conditions.append(
                sql.SQL("{} {} {}").format(
                    sql.Identifier(request.cursor.column), op, _literal(request.cursor.value)
                )
            )
        if request.key_range is not None:
            key = sql.Identifier(request.key_range.column)
            if request.key_range.lower is not None:
                conditions.append(
                    sql.SQL("{} >= {}").format(key, _literal(request.key_range.lower))
                )
            if request.key_range.upper is not None:
                conditions.append(sql.SQL("{} < {}").format(key, _literal(request.key_range.upper)))
        statement = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(items), source)
        if conditions:
            statement = statement + sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)
        return statement

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        try:
            import adbc_driver_postgresql.dbapi as adbc
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise MissingDependency("postgres", "adbc-driver-postgresql") from exc
        what = self._what(request.describe())
        with connect(self.props) as helper:
            query_text = self.select_statement(request, native=False).as_string(helper)
        try:
            conn = adbc.connect(adbc_uri(self.props), autocommit=False)
        except Exception as exc:
            raise translate_adbc(exc, what) from None
        pid = None
        try:
            with conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                if request.snapshot:
                    cursor.execute(f"SET TRANSACTION SNAPSHOT '{_snapshot_id(request.snapshot)}'")
                cursor.execute("SELECT pg_backend_pid()")
                pid = int(cursor.fetchone()[0])
                self._track(pid, True)
                cursor.adbc_statement.set_options(
                    **{"adbc.postgresql.batch_size_hint_bytes": str(request.batch_bytes)}
                )
                cursor.execute(query_text)
                reader = cursor.fetch_record_batch()
                for batch in reader:
                    if batch.num_rows:
                        yield conform(batch, request.columns, what)
        except ConnectorError:
            raise
        except Exception as exc:
            refused = refusal(str(exc))
            if refused is not None:
                raise ValueRejected(f"{what}: {refused}") from None
            raise translate_adbc(exc, what) from None
        finally:
            if pid is not None:
                self._track(pid, False)
            with contextlib.suppress(Exception):
                conn.rollback()
            with contextlib.suppress(Exception):
                conn.close()

    def read_native(self, request: ReadRequest) -> Iterator[bytes]:
        """Binary COPY rows (no header, no trailer) in chunks of at most 1 MiB.

        Uses libpq's non-blocking ``PQgetCopyData`` directly: going through psycopg's per-row
        iterator costs more than the copy itself on a 2-core machine.
        """
        what = self._what(request.describe())
        conn = lend(self.props)
        finished = False
        try:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if request.snapshot:
                conn.execute(
                    sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(request.snapshot))
                )
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            pid = int(row[0])
            statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(
                self.select_statement(request, native=True)
            )
            self._track(pid, True)
            try:
                chunk_bytes = max(min(request.batch_bytes, _CHUNK_BYTES), 16 * 1024)
                statement_bytes = statement.as_string(conn).encode()
                yield from _copy_out_rows(conn, statement_bytes, what, chunk_bytes)
                finished = True
            finally:
                self._track(pid, False)
        except psycopg.Error as exc:
            raise translate(exc, what) from None
        finally:
            with contextlib.suppress(Exception):
                conn.rollback()
            if finished:  # a read stopped half-way may leave the protocol mid-COPY
                give_back(self.props, conn)
            else:
                conn.close()

    # -- parallelism, snapshot, cancel --------------------------------------------------------

    def plan_key_ranges(self, ref: TableRef, column: str, parts: int) -> list[KeyRange]:
        """Even split of an integer key between its min and max (one range when not integer)."""
        ref = TableRef(ref.name, ref.schema or self.default_schema)
        with borrowed(self.props) as conn:
            try:
                row = conn.execute(
                    sql.SQL("SELECT min({c}), max({c}) FROM {t}").format(
                        c=sql.Identifier(column), t=qualified(ref.schema, ref.name)
                    )
                ).fetchone()
            except psycopg.Error as exc:
                raise translate(exc, self._what(ref.display())) from None
        return even_key_ranges(column, row, parts)

    def plan_page_ranges(self, ref: TableRef, parts: int) -> list[KeyRange]:
        """``ctid`` ranges of about equal page counts (a TID range scan reads each one): for a
        plain table without a single-column key. The last range is open, so pages added
        after planning are still read; none for views and partitioned parents (no pages)."""
        ref = TableRef(ref.name, ref.schema or self.default_schema)
        with borrowed(self.props) as conn:
            try:
                row = conn.execute(
                    "SELECT c.relkind::text, pg_relation_size(c.oid) / "
                    "current_setting('block_size')::bigint FROM pg_class c "
                    "WHERE c.oid = to_regclass(%s)",
                    (qualified(ref.schema, ref.name).as_string(conn),),
                ).fetchone()
            except psycopg.Error as exc:
                raise translate(exc, self._what(ref.display())) from None
        if row is None or row[0] not in ("r", "m") or parts < 2:
            return []
        pages = int(row[1])
        step = max(-(-pages // parts), 1)
        cuts = [step * i for i in range(1, parts) if step * i < pages]
        edges: list[str | None] = [None, *(f"({cut},0)" for cut in cuts), None]
        return [KeyRange("ctid", edges[i], edges[i + 1]) for i in range(len(edges) - 1)]

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[str | None]:
        """Export a snapshot from a REPEATABLE READ transaction held open until exit."""
        conn = connect(self.props)
        try:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert row is not None
            yield str(row[0])
        except psycopg.Error as exc:
            raise translate(exc, self._what("snapshot")) from None
        finally:
            with contextlib.suppress(Exception):
                conn.rollback()
            conn.close()

    def change_reader(self, name: str) -> ChangeReader:
        from headwater.connectors.postgres.cdc import PostgresChangeReader

        return PostgresChangeReader(self.props, name, lambda ref: self.describe(ref).columns)

    def _track(self, pid: int, running: bool) -> None:
        with self._lock:
            if running:
                self._pids.add(pid)
            else:
                self._pids.discard(pid)

    def cancel(self) -> None:
        with self._lock:
            pids = sorted(self._pids)
        cancel_backends(self.props, pids)


def _snapshot_id(snapshot: str) -> str:
    """Snapshot ids look like ``00000003-0000001B-1``; refuse anything else (it is spliced)."""
    if not all(ch in "0123456789ABCDEFabcdef-" for ch in snapshot):
        raise ValueError(f"invalid snapshot id {snapshot!r}")
    return snapshot


def _literal(value: Any) -> sql.Composable:
    if isinstance(value, Decimal):
        return sql.SQL("{}::numeric").format(sql.Literal(format(value, "f")))
    return sql.Literal(value)


def _copy_out_rows(
    conn: psycopg.Connection[Any], statement: bytes, what: str, chunk_bytes: int
) -> Iterator[bytes]:
    pgconn = conn.pgconn
    pgconn.send_query(statement)
    _wait_result(pgconn)
    result = pgconn.get_result()
    if result is None or result.status != pq.ExecStatus.COPY_OUT:
        _drain(pgconn)
        raise _result_error(result, what)
    buffer = bytearray()
    header_left = len(COPY_HEADER)
    get_copy_data = pgconn.get_copy_data
    consume_input = pgconn.consume_input
    sock = pgconn.socket
    # One iteration per row: keep the common case (a row of more than two bytes, after the
    # header) to one call, one append and one length check.
    while True:
        size, data = get_copy_data(1)
        if size > 2 and not header_left:
            buffer += data
            if len(buffer) >= chunk_bytes:
                yield bytes(buffer)
                buffer.clear()
        elif size > 0:
            if header_left:  # the header arrives glued to the first row (or to the trailer)
                data = data[header_left:]
                header_left = 0
            if len(data) == 2 and bytes(data) == COPY_TRAILER:
                continue  # a row never is exactly 0xFFFF: that is the field count -1
            buffer += data
        elif size == 0:
            select.select([sock], [], [], 1.0)
            consume_input()
        else:
            break
    final = pgconn.get_result()
    _drain(pgconn)
    if final is not None and final.status == pq.ExecStatus.FATAL_ERROR:
        raise _result_error(final, what)
    if buffer:
        yield bytes(buffer)


def _result_error(result: pq.abc.PGresult | None, what: str) -> ConnectorError:
    if result is None:
        return ConnectorError(f"{what}: the server returned no result")
    message = result.error_message.decode(errors="replace").strip()
    sqlstate = result.error_field(pq.DiagnosticField.SQLSTATE)
    exc_class = psycopg.errors.lookup(sqlstate.decode()) if sqlstate else psycopg.Error
    return translate(exc_class(message), what)


def _wait_result(pgconn: pq.abc.PGconn) -> None:
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            return
        select.select([pgconn.socket], [], [], 1.0)


def _drain(pgconn: pq.abc.PGconn) -> None:
    while pgconn.get_result() is not None:
        pass
