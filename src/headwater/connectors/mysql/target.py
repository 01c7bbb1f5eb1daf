"""MySQL/MariaDB target.

MySQL commits implicitly on DDL, so the schema work (creating the target table, adding or
widening columns, the state table) is done and committed *before* the load transaction and
recorded in a :class:`~headwater.connectors.mysql.ddl.DdlJournal`; a failed load is rolled
back and its DDL undone, leaving the target's schema, rows and cursor exactly as they were.
The rows go to a ``TEMPORARY`` staging table, then in one InnoDB transaction: ``overwrite``
deletes and re-inserts (readers keep seeing the old rows
until ``COMMIT``), ``append`` inserts, ``merge`` deletes the staged keys and inserts the last
staged row per key; the state row is upserted in the same transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from headwater.connectors.base import (
    Column,
    CursorState,
    KeyedWrite,
    Loader,
    LoadPlan,
    Table,
    TableRef,
    Target,
    metadata_column_types,
)
from headwater.connectors.errors import ValueRejected
from headwater.connectors.loaders import OpenLoaders, keyed_params, keyed_sql
from headwater.connectors.mysql.conn import (
    check_identifier,
    check_reachable,
    connect,
    kill_queries,
    pyformat,
    translate,
)
from headwater.connectors.mysql.ddl import DdlJournal, column_definition
from headwater.connectors.mysql.exact import geometry_from_ewkt, is_spatial
from headwater.connectors.mysql.source import fetch_columns
from headwater.connectors.mysql.types import mysql_type_for
from headwater.connectors.sqltext import ident_list, qualified, quote_backtick
from headwater.connectors.values import (
    encode_boundary,
    encode_cursor,
    stored_state,
)

STATE_TABLE = "_headwater_state"


class MySQLTarget(Target):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self._loaders: OpenLoaders[MySQLLoader] = OpenLoaders()

    def default_schema(self) -> str:
        return str(self.props["database"])

    def test(self) -> None:
        check_reachable(self.props)

    def _what(self, name: str) -> str:
        return f"MySQL {self.props['host']} {name}"

    def describe(self, ref: TableRef) -> Table | None:
        schema = ref.schema or self.default_schema()
        what = self._what(f"{schema}.{ref.name}")
        for name in (schema, ref.name):
            check_identifier(name, what)
        conn = connect(self.props)
        try:
            with conn.cursor() as cursor:
                columns = fetch_columns(cursor, schema, ref.name)
        except Exception as exc:
            raise translate(exc, what) from None
        finally:
            conn.close()
        return Table(TableRef(ref.name, schema), tuple(columns)) if columns else None

    def type_for(self, column: Column) -> str:
        return mysql_type_for(column)

    def read_state(self, state_schema: str | None, state_key: str) -> CursorState | None:
        schema = state_schema or self.default_schema()
        conn = connect(self.props)
        try:
            with conn.cursor() as cursor:
                if not fetch_columns(cursor, schema, STATE_TABLE):
                    return None
                table = pyformat(qualified(schema, STATE_TABLE, quote="`"))
                cursor.execute(
                    f"SELECT cursor_value, cursor_type, load_id, updated_at, boundary FROM "
                    f"{table} WHERE state_key = %s",
                    (state_key,),
                )
                row = cursor.fetchone()
        finally:
            conn.close()
        return stored_state(state_key, row)

    def begin(self, plan: LoadPlan) -> Loader:
        return self._loaders.add(MySQLLoader(self, plan))

    def cancel(self) -> None:
        threads = [loader.thread_id for loader in self._loaders.active()]
        if threads:
            kill_queries(self.props, thread_ids=threads, tag=None)

    def close(self) -> None:
        self._loaders.abort_all()


def _value_writer(arrow_type: pa.DataType, name: str, what: str) -> Any:
    types = pa.types

    def check_float(value: float) -> float:
        if math.isnan(value) or math.isinf(value):
            raise ValueRejected(
                f"{what}: column {name!r}: MySQL cannot store NaN or Infinity ({value!r})"
            )
        if value == 0 and math.copysign(1.0, value) < 0:
            raise ValueRejected(f"{what}: column {name!r}: MySQL would store -0.0 as 0")
        return value

    if types.is_floating(arrow_type):
        return check_float
    if types.is_boolean(arrow_type):
        return int
    if types.is_timestamp(arrow_type) and arrow_type.tz:
        return lambda v: v.astimezone(UTC).replace(tzinfo=None)
    if types.is_interval(arrow_type):
        return lambda v: f"P{v.months}M{v.days}DT{Decimal(v.nanoseconds) / 10**9:f}S"
    if types.is_list(arrow_type) or types.is_struct(arrow_type) or types.is_map(arrow_type):
        return lambda v: json.dumps(v, default=str, ensure_ascii=False)
    return None


class MySQLLoader(Loader):
    def __init__(self, target: MySQLTarget, plan: LoadPlan) -> None:
        self.plan = plan
        self.schema = plan.target.schema or target.default_schema()
        self.table = qualified(self.schema, plan.target.name, quote="`")
        self.what = target._what(f"{self.schema}.{plan.target.name}")
        digest = hashlib.sha1(f"{self.table}:{plan.load_id}".encode()).hexdigest()[:16]
        self.stage = quote_backtick(f"_hw_stage_{digest}")
        self.rows = 0
        self.active = True
        self._keyed: list[KeyedWrite] = []
        self.conn = connect(target.props)
        self.thread_id = self.conn.thread_id()
        self.ddl = DdlJournal(target.props, self.what)
        try:
            self._prepare_schema()
            self._prepare_stage()
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None

    def _exec(self, statement: str, params: Any = None) -> int:
        """Run one statement; with ``params``, ``statement`` must have been :func:`pyformat`-ed
        (but for its placeholders), since PyMySQL then interpolates it with ``%``."""
        with self.conn.cursor() as cursor:
            return int(cursor.execute(statement, params))

    def _prepare_schema(self) -> None:
        """DDL, committed before the load (MySQL cannot roll it back): each change is recorded
        in ``self.ddl`` and reversed by :meth:`abort` if the load fails."""
        plan = self.plan
        for name in (self.schema, plan.target.name, *(c.name for c in plan.columns)):
            check_identifier(name, self.what)
        if not self._exists("SCHEMATA", "SCHEMA_NAME = %s", self.schema):
            self._exec(f"CREATE DATABASE IF NOT EXISTS {quote_backtick(self.schema)}")
            self.ddl.created_database(self.schema)
        state_schema = plan.state_schema or self.schema
        if not self._exists(
            "TABLES", "TABLE_SCHEMA = %s AND TABLE_NAME = %s", state_schema, STATE_TABLE
        ):
            self._exec(
                f"CREATE TABLE IF NOT EXISTS {qualified(state_schema, STATE_TABLE, quote='`')} "
                "(state_key VARCHAR(255) PRIMARY KEY, cursor_value TEXT, cursor_type VARCHAR(32), "
                "load_id VARCHAR(64), boundary LONGTEXT, updated_at DATETIME(6)) ENGINE=InnoDB"
            )
            self.ddl.created_table(state_schema, STATE_TABLE)
        existing = plan.existing
        self.types = plan.column_types(mysql_type_for)
        meta = self._metadata_types()
        if existing is None:
            defs = [f"{quote_backtick(n)} {t}" for n, t in [*self.types, *meta]]
            if plan.method == "merge" and plan.merge_keys:
                keyed = all(_indexable(t) for n, t in self.types if n in plan.merge_keys)
                if keyed:
                    defs.append(f"PRIMARY KEY ({ident_list(plan.merge_keys, quote='`')})")
            self._exec(
                f"CREATE TABLE {self.table} ({', '.join(defs)}) ENGINE=InnoDB "
                "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            )
            self.ddl.created_table(self.schema, plan.target.name)
        else:
            self._alter_existing(existing, [*self.types, *meta])
        self.conn.commit()

    def _alter_existing(self, existing: Table, types: list[tuple[str, str]]) -> None:
        widened = {w.name for w in self.plan.widen_columns}
        for name, type_text in types:
            current = existing.column(name)
            column = quote_backtick(name)
            if current is None:
                self._exec(f"ALTER TABLE {self.table} ADD COLUMN {column} {type_text}")
                self.ddl.added_column(self.table, name)
            elif current.source_type != type_text and name in widened:
                former = column_definition(self._create_statement(), name)
                self._exec(f"ALTER TABLE {self.table} MODIFY COLUMN {column} {type_text}")
                if former is not None:
                    self.ddl.modified_column(self.table, former)

    def _exists(self, catalogue: str, condition: str, *params: str) -> bool:
        with self.conn.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM information_schema.{catalogue} WHERE {condition}", params
            )
            return cursor.fetchone() is not None

    def _create_statement(self) -> str:
        with self.conn.cursor() as cursor:
            cursor.execute(f"SHOW CREATE TABLE {self.table}")
            row = cursor.fetchone()
        return str(row[1]) if row else ""

    def _metadata_types(self) -> list[tuple[str, str]]:
        return metadata_column_types(self.plan.metadata, "datetime(6)", "varchar(64)")

    def _prepare_stage(self) -> None:
        # spatial values are staged as their (E)WKT text, see exact.geometry_from_ewkt
        defs = ", ".join(
            f"{quote_backtick(n)} {'longtext' if is_spatial(t) else t}" for n, t in self.types
        )
        self._exec(
            f"CREATE TEMPORARY TABLE {self.stage} (`_hw_seq` BIGINT AUTO_INCREMENT "
            f"PRIMARY KEY, {defs}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        )
        self.conn.begin()
        names = ident_list([c.name for c in self.plan.columns], quote="`")
        marks = ", ".join(["%s"] * len(self.plan.columns))
        # executemany interpolates the text before VALUES too: its names are pyformat-ed
        self.insert_sql = pyformat(f"INSERT INTO {self.stage} ({names}) VALUES ") + f"({marks})"

    def write(self, batch: pa.RecordBatch) -> None:
        columns = []
        for index, array in enumerate(batch.columns):
            values = array.to_pylist()
            writer = _value_writer(array.type, self.plan.columns[index].name, self.what)
            if writer is not None:
                values = [None if v is None else writer(v) for v in values]
            columns.append(values)
        rows = list(zip(*columns, strict=True))
        try:
            with self.conn.cursor() as cursor:
                cursor.executemany(self.insert_sql, rows)
        except Exception as exc:
            raise translate(exc, self.what) from None
        self.rows += batch.num_rows

    def staged_max(self, column: str) -> Any:
        with self.conn.cursor() as cursor:
            cursor.execute(f"SELECT MAX({quote_backtick(column)}) FROM {self.stage}")
            row = cursor.fetchone()
        value = None if row is None else row[0]
        spec = next(c for c in self.plan.columns if c.name == column)
        if isinstance(value, datetime) and spec.arrow_type.equals(pa.timestamp("us", tz="UTC")):
            return value.replace(tzinfo=UTC)
        return value

    def commit(self, state: CursorState | None) -> int:
        try:
            self._apply_keyed()
            self._publish()
            if state is not None:
                text, kind = encode_cursor(state.value)
                table = qualified(self.plan.state_schema or self.schema, STATE_TABLE, quote="`")
                self._exec(
                    f"INSERT INTO {pyformat(table)} VALUES (%s, %s, %s, %s, %s, UTC_TIMESTAMP(6)) "
                    "ON DUPLICATE KEY UPDATE cursor_value = VALUES(cursor_value), "
                    "cursor_type = VALUES(cursor_type), load_id = VALUES(load_id), "
                    "boundary = VALUES(boundary), updated_at = VALUES(updated_at)",
                    (state.state_key, text, kind, state.load_id, encode_boundary(state.boundary)),
                )
            self.conn.commit()
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None
        self.ddl.forget()
        self.active = False
        self.conn.close()
        return self.rows

    def stage_keyed(self, write: KeyedWrite) -> None:
        self._keyed.append(write)

    def _apply_keyed(self) -> None:
        def naive(value: Any) -> Any:  # MySQL DATETIME columns hold UTC without an offset
            if isinstance(value, datetime) and value.tzinfo is not None:
                return value.astimezone(UTC).replace(tzinfo=None)
            return value

        for write in self._keyed:
            statement = keyed_sql(
                write, pyformat(self.table), lambda n: pyformat(quote_backtick(n)), lambda _i: "%s"
            )
            rows = [tuple(naive(v) for v in row) for row in keyed_params(write)]
            with self.conn.cursor() as cursor:
                cursor.executemany(statement, rows)

    def _publish(self) -> None:
        plan = self.plan
        names = [c.name for c in plan.columns]
        insert_cols = ident_list(names + [n for n, _ in self._metadata_types()], quote="`")
        select = ", ".join(_published(f"s.{quote_backtick(n)}", t) for n, t in self.types)
        placeholders = ""
        params: list[Any] = []
        if plan.metadata is not None:
            placeholders = ", %s, %s"
            loaded_at = plan.metadata.loaded_at.astimezone(UTC).replace(tzinfo=None)
            params = [loaded_at, plan.metadata.load_id]
        source = f"{self.stage} AS s"
        if plan.method == "overwrite":
            self._exec(f"DELETE FROM {self.table}")
        elif plan.method == "merge":
            keys = ident_list(plan.merge_keys, quote="`")
            match = " AND ".join(
                f"t.{quote_backtick(k)} <=> s.{quote_backtick(k)}" for k in plan.merge_keys
            )
            self._exec(f"DELETE t FROM {self.table} AS t JOIN {self.stage} AS s ON {match}")
            last = quote_backtick("_hw_stage_last")
            self._exec(f"DROP TEMPORARY TABLE IF EXISTS {last}")
            self._exec(
                f"CREATE TEMPORARY TABLE {last} AS SELECT MAX(`_hw_seq`) AS seq "
                f"FROM {self.stage} GROUP BY {keys}"
            )
            source = f"{self.stage} AS s JOIN {last} AS l ON s.`_hw_seq` = l.seq"
        self._exec(
            pyformat(f"INSERT INTO {self.table} ({insert_cols}) SELECT {select}")
            + placeholders
            + pyformat(f" FROM {source}"),
            params,
        )

    def abort(self) -> None:
        """Roll the load back, close its connection (releasing its locks and temporary
        tables), then undo its DDL on a fresh connection."""
        if not self.active:
            return
        self.active = False
        with contextlib.suppress(Exception):
            self.conn.rollback()
        with contextlib.suppress(Exception):
            self.conn.close()
        self.ddl.rollback()


def _published(staged: str, type_text: str) -> str:
    return geometry_from_ewkt(staged) if is_spatial(type_text) else staged


def _indexable(type_text: str) -> bool:
    """Whether a column of this type can be in a primary key without a prefix length."""
    return not any(word in type_text for word in ("text", "blob", "json"))
