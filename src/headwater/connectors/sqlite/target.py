"""SQLite target: rows staged in a temporary table, published in one ``BEGIN IMMEDIATE``.

SQLite has no schemas: a job's target schema is ignored. Types are declarations only (SQLite
stores any value in any column), so widening is a no-op and new columns are added with
``ALTER TABLE ADD COLUMN``. ``merge`` is delete-then-insert of the staged keys (last staged row
per key wins).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
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
from headwater.connectors.loaders import OpenLoaders, keyed_params, keyed_sql
from headwater.connectors.sqlite.conn import check_readable, open_sandboxed, translate
from headwater.connectors.sqlite.convert import (
    batch_to_rows,
    reader_for,
    refuse_unstorable_floats,
)
from headwater.connectors.sqlite.source import table_columns
from headwater.connectors.sqlite.types import sqlite_type_for
from headwater.connectors.sqltext import ident_list, quote_ident
from headwater.connectors.values import (
    encode_boundary,
    encode_cursor,
    stored_state,
)

STATE_TABLE = "_headwater_state"


def open_readwrite(path: str) -> sqlite3.Connection:
    return open_sandboxed(path, isolation_level=None, check_same_thread=False, timeout=30)


class SQLiteTarget(Target):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self.path = str(props["path"])
        self._loaders: OpenLoaders[SQLiteLoader] = OpenLoaders()

    def test(self) -> None:
        check_readable(open_readwrite(self.path), self.path)

    def describe(self, ref: TableRef) -> Table | None:
        conn = open_readwrite(self.path)
        try:
            columns = table_columns(conn, ref.name)
        finally:
            conn.close()
        return Table(TableRef(ref.name), tuple(columns)) if columns else None

    def type_for(self, column: Column) -> str:
        return sqlite_type_for(column)

    def read_state(self, state_schema: str | None, state_key: str) -> CursorState | None:
        conn = open_readwrite(self.path)
        try:
            if not table_columns(conn, STATE_TABLE):
                return None
            row = conn.execute(
                f"SELECT cursor_value, cursor_type, load_id, updated_at, boundary "
                f"FROM {quote_ident(STATE_TABLE)} WHERE state_key = ?",
                (state_key,),
            ).fetchone()
        finally:
            conn.close()
        return stored_state(state_key, row, with_updated_at=False)

    def begin(self, plan: LoadPlan) -> Loader:
        return self._loaders.add(SQLiteLoader(self.path, plan))

    def cancel(self) -> None:
        for loader in self._loaders.active():
            loader.conn.interrupt()

    def close(self) -> None:
        self._loaders.abort_all()


class SQLiteLoader(Loader):
    def __init__(self, path: str, plan: LoadPlan) -> None:
        self.plan = plan
        self.table = quote_ident(plan.target.name)
        self.what = f"SQLite {path} {plan.target.name}"
        digest = hashlib.sha1(f"{plan.target.name}:{plan.load_id}".encode()).hexdigest()[:16]
        self.stage = quote_ident(f"_hw_stage_{digest}")
        self.rows = 0
        self.active = True
        self._keyed: list[KeyedWrite] = []
        self.conn = open_readwrite(path)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self._prepare()
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None

    def _prepare(self) -> None:
        plan, execute = self.plan, self.conn.execute
        execute(
            f"CREATE TABLE IF NOT EXISTS {quote_ident(STATE_TABLE)} (state_key TEXT PRIMARY KEY,"
            " cursor_value TEXT, cursor_type TEXT, load_id TEXT, boundary TEXT, updated_at TEXT)"
        )
        existing = plan.existing
        self.types = []
        for column in plan.columns:
            current = existing.column(column.name) if existing else None
            keep = current is not None and plan.method != "overwrite"
            self.types.append(
                (column.name, current.source_type if keep and current else sqlite_type_for(column))
            )
        defs = ", ".join(f"{quote_ident(n)} {t}" for n, t in self.types)
        execute(f"CREATE TEMP TABLE {self.stage} ({defs})")
        if plan.method == "overwrite":
            return
        if existing is None:
            self._create_target()
            return
        for column in plan.add_columns:
            execute(
                f"ALTER TABLE {self.table} ADD COLUMN {quote_ident(column.name)} "
                f"{sqlite_type_for(column)}"
            )
        for name, type_text in self._metadata_types():
            if existing.column(name) is None:
                execute(f"ALTER TABLE {self.table} ADD COLUMN {quote_ident(name)} {type_text}")

    def _metadata_types(self) -> list[tuple[str, str]]:
        return metadata_column_types(self.plan.metadata, "TIMESTAMPTZ TEXT", "TEXT")

    def _create_target(self) -> None:
        defs = [f"{quote_ident(n)} {t}" for n, t in [*self.types, *self._metadata_types()]]
        self.conn.execute(f"CREATE TABLE {self.table} ({', '.join(defs)})")

    def write(self, batch: pa.RecordBatch) -> None:
        refuse_unstorable_floats(batch, self.what)
        marks = ", ".join("?" for _ in range(batch.num_columns))
        try:
            self.conn.executemany(
                f"INSERT INTO {self.stage} VALUES ({marks})", batch_to_rows(batch)
            )
        except sqlite3.Error as exc:
            raise translate(exc, self.what) from None
        self.rows += batch.num_rows

    def staged_max(self, column: str) -> Any:
        row = self.conn.execute(f"SELECT max({quote_ident(column)}) FROM {self.stage}").fetchone()
        spec = next(c for c in self.plan.columns if c.name == column)
        return None if row is None or row[0] is None else reader_for(spec)(row[0])

    def stage_keyed(self, write: KeyedWrite) -> None:
        self._keyed.append(write)

    def commit(self, state: CursorState | None) -> int:
        try:
            for write in self._keyed:
                statement = keyed_sql(write, self.table, quote_ident, lambda _i: "?")
                self.conn.executemany(statement, keyed_params(write))
            self._publish()
            if state is not None:
                text, kind = encode_cursor(state.value)
                self.conn.execute(
                    f"INSERT OR REPLACE INTO {quote_ident(STATE_TABLE)} VALUES "
                    "(?, ?, ?, ?, ?, datetime('now'))",
                    (state.state_key, text, kind, state.load_id, encode_boundary(state.boundary)),
                )
            self.conn.execute("COMMIT")
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None
        self.active = False
        self.conn.close()
        return self.rows

    def _publish(self) -> None:
        plan, execute = self.plan, self.conn.execute
        names = [c.name for c in plan.columns]
        insert_cols = ident_list(names + [n for n, _ in self._metadata_types()])
        select = ident_list(names)
        params: list[Any] = []
        if plan.metadata is not None:
            select += ", ?, ?"
            params = [
                plan.metadata.loaded_at.isoformat(sep=" ", timespec="microseconds"),
                plan.metadata.load_id,
            ]
        source = self.stage
        if plan.method == "overwrite":
            execute(f"DROP TABLE IF EXISTS {self.table}")
            self._create_target()
        elif plan.method == "merge":
            keys = ident_list(plan.merge_keys)
            match = " AND ".join(
                f"s.{quote_ident(k)} IS {self.table}.{quote_ident(k)}" for k in plan.merge_keys
            )
            execute(
                f"DELETE FROM {self.table} WHERE EXISTS "
                f"(SELECT 1 FROM {self.stage} AS s WHERE {match})"
            )
            source = (
                f"(SELECT * FROM {self.stage} WHERE rowid IN "
                f"(SELECT max(rowid) FROM {self.stage} GROUP BY {keys}))"
            )
        execute(f"INSERT INTO {self.table} ({insert_cols}) SELECT {select} FROM {source}", params)

    def abort(self) -> None:
        if not self.active:
            return
        self.active = False
        with contextlib.suppress(Exception):
            self.conn.execute("ROLLBACK")
        with contextlib.suppress(Exception):
            self.conn.close()
