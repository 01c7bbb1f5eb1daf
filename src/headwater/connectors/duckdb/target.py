"""DuckDB target: Arrow batches streamed into a staging table, published in one short transaction.

The batches go into a staging table ``_hw_stage_<digest>`` (readers of the target never see
it) through one streamed ``INSERT`` per Arrow schema (:mod:`.staging`), which DuckDB commits
when the stream ends, and only the publish runs in one transaction: ``overwrite`` drops the
old table and renames the staging table in its place (no data is copied), ``append`` inserts
from staging, ``merge`` deletes the staged keys then inserts the last staged row per key
(DuckDB's ``ON CONFLICT`` needs a primary key, which tables created from other sources do not
have; "last" is the staging table's insertion order, which a one-thread stream keeps). Schema
changes and the cursor state row are written in the same transaction; DuckDB's MVCC keeps other
connections on the old table until its ``COMMIT``. A failed or cancelled load rolls the stream
or the publish back and drops the staging table.

Memory: DuckDB's buffer pool caches the table's blocks up to ``memory_limit``, so a large limit
makes the process grow with the table. Staging only appends, which spills well, so it runs
under a small limit (:func:`staging_memory_limit`: a floor plus one block per column, the least
an append of a wide table needs). The publish (a merge's join and window over the whole staging
table) needs more: it starts at :data:`PUBLISH_MEMORY_LIMITS` ``[0]`` and, when DuckDB reports
that it is out of memory, rolls back and tries again with the next, larger limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from typing import Any

import duckdb
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
from headwater.connectors.duckdb.conn import connect, translate
from headwater.connectors.duckdb.source import DESCRIBE_SQL
from headwater.connectors.duckdb.staging import StagingStream
from headwater.connectors.duckdb.types import column_from_describe, duckdb_type_for
from headwater.connectors.loaders import OpenLoaders, keyed_params, keyed_sql
from headwater.connectors.sqltext import ident_list, qualified, quote_ident
from headwater.connectors.values import (
    encode_boundary,
    encode_cursor,
    stored_state,
)

log = logging.getLogger(__name__)

STATE_TABLE = "_headwater_state"
#: DuckDB's memory limit while staging, before the per-column allowance (it spills to
#: ``<database>.tmp`` beyond it).
STAGING_MEMORY_FLOOR_MB = 32
#: What an append needs per column: two 256 KiB blocks (the open segment and the next).
STAGING_MEMORY_PER_COLUMN_KB = 512
#: Memory limits tried in turn for the publish transaction (a merge joins and ranks the whole
#: staging table); the next is used only when DuckDB runs out of memory under the previous.
PUBLISH_MEMORY_LIMITS = ("64MB", "256MB", "1GB", "4GB")
#: DuckDB worker threads while staging a merge, whose "last row per key" is the last staged:
#: one thread keeps the batches in the source's order.
ORDERED_STAGING_THREADS = 1
#: DuckDB worker threads while staging an overwrite or append, with DuckDB's
#: ``preserve_insertion_order`` off: each thread converts and compresses the batches it takes,
#: so the table's rows are not stored in the source's order (a SQL table has none; ``ORDER
#: BY`` gives one). On two cores the 1 GB CSV bench staged in 6.4 s this way against 7.2 s in
#: order on one thread; in order on two threads it took 9.5 s, since DuckDB then buffers
#: every thread's row groups until the earlier ones are written. Two, not every core: each
#: thread fills row groups of its own, which costs memory per thread.
UNORDERED_STAGING_THREADS = 2


def stage_prefix() -> str:
    """Staging tables of this process start with this; any other ``_hw_stage_`` is an orphan.

    DuckDB lets one process at a time open a file for writing, and a loader keeps its
    connection open from ``begin`` to ``commit``: while this process prepares a load, no other
    process can be loading into the file, so their staging tables were left by a crash.
    """
    return f"_hw_stage_p{os.getpid()}_"


def staging_memory_limit(columns: int) -> str:
    """The ``memory_limit`` for staging a table of ``columns`` columns, e.g. ``'37MB'``."""
    return f"{STAGING_MEMORY_FLOOR_MB + columns * STAGING_MEMORY_PER_COLUMN_KB // 1024}MB"


class DuckDBTarget(Target):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self.path = str(props["path"])
        self._loaders: OpenLoaders[DuckDBLoader] = OpenLoaders()

    def default_schema(self) -> str:
        return "main"

    def test(self) -> None:
        conn = connect(self.path, must_exist=False)
        try:
            conn.execute("SELECT 1")
        finally:
            conn.close()

    def describe(self, ref: TableRef) -> Table | None:
        ref = TableRef(ref.name, ref.schema or "main")
        conn = connect(self.path, must_exist=False)
        try:
            rows = conn.execute(DESCRIBE_SQL, [ref.schema, ref.name]).fetchall()
        finally:
            conn.close()
        return Table(ref, tuple(column_from_describe(*r) for r in rows)) if rows else None

    def type_for(self, column: Column) -> str:
        return duckdb_type_for(column)

    def read_state(self, state_schema: str | None, state_key: str) -> CursorState | None:
        conn = connect(self.path, must_exist=False)
        try:
            exists = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = ? AND table_name = ?",
                [state_schema or "main", STATE_TABLE],
            ).fetchone()
            if not exists or not exists[0]:
                return None
            row = conn.execute(
                f"SELECT cursor_value, cursor_type, load_id, updated_at, boundary "
                f"FROM {qualified(state_schema or 'main', STATE_TABLE)} WHERE state_key = ?",
                [state_key],
            ).fetchone()
        finally:
            conn.close()
        return stored_state(state_key, row)

    def begin(self, plan: LoadPlan) -> Loader:
        return self._loaders.add(DuckDBLoader(self, plan))

    def cancel(self) -> None:
        for loader in self._loaders.active():
            loader.interrupt()

    def close(self) -> None:
        self._loaders.abort_all()


class DuckDBLoader(Loader):
    def __init__(self, target: DuckDBTarget, plan: LoadPlan) -> None:
        self.plan = plan
        self.schema = plan.target.schema or "main"
        self.table = qualified(self.schema, plan.target.name)
        self.what = f"DuckDB {target.path} {self.schema}.{plan.target.name}"
        digest = hashlib.sha1(f"{self.table}:{plan.load_id}".encode()).hexdigest()[:16]
        self.stage = qualified(self.schema, f"{stage_prefix()}{digest}")
        self.rows = 0
        self.active = True
        self.created_schema = False
        self.staged = False  # the staging table exists (committed)
        # the database's own ``threads`` and ``preserve_insertion_order``, read in _prepare
        self.database_settings: dict[str, str] = {}
        self._stream: StagingStream | None = None  # the running INSERT of the batches
        self._keyed: list[KeyedWrite] = []
        self.conn = connect(target.path, must_exist=False)
        try:
            self._prepare()
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None

    def _prepare(self) -> None:
        """Create the (committed) staging table; the target is not touched before publish."""
        execute = self.conn.execute
        self.types = self.plan.column_types(
            duckdb_type_for, replacing=self.plan.method == "overwrite"
        )
        # The buffer pool stays small and spills to ``<database>.tmp``; the streamed INSERT
        # writes full row groups to the file as it goes, so this bounds the load's memory.
        limit = staging_memory_limit(len(self.types) + len(self._metadata_types()))
        execute(f"SET GLOBAL memory_limit = '{limit}'")
        self.database_settings = {
            name: str(value)
            for name, value in execute(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('threads', 'preserve_insertion_order')"
            ).fetchall()
        }
        in_order = self.plan.method == "merge"
        threads = ORDERED_STAGING_THREADS if in_order else UNORDERED_STAGING_THREADS
        execute(f"SET GLOBAL threads = {threads}")
        execute(f"SET GLOBAL preserve_insertion_order = {str(in_order).lower()}")
        found = execute(
            "SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() "
            "AND schema_name = ?",
            [self.schema],
        ).fetchone()
        if not found or not found[0]:
            execute(f"CREATE SCHEMA {quote_ident(self.schema)}")
            self.created_schema = True  # dropped again if the load fails
        self._drop_orphaned_stages()
        stage_types = self.types
        if self.plan.method == "overwrite":
            stage_types = [*self.types, *self._metadata_types()]  # becomes the target table
        defs = ", ".join(f"{quote_ident(n)} {t}" for n, t in stage_types)
        execute(f"CREATE TABLE {self.stage} ({defs})")
        self.staged = True
        self._insert, self._insert_params = self._insert_statement()

    def _insert_statement(self) -> tuple[str, list[Any]]:
        """The INSERT of a registered batch ``_hw_batch`` (columns ``c0..``) into staging."""
        casts = ", ".join(
            f"CAST({quote_ident(f'c{i}')} AS {type_text})"
            for i, (_, type_text) in enumerate(self.types)
        )
        names = [n for n, _ in self.types]
        params: list[Any] = []
        if self.plan.method == "overwrite" and self.plan.metadata is not None:
            names += [n for n, _ in self._metadata_types()]
            casts += ", ?::TIMESTAMPTZ, ?"
            params = [self.plan.metadata.loaded_at, self.plan.metadata.load_id]
        statement = f"INSERT INTO {self.stage} ({ident_list(names)}) SELECT {casts} FROM _hw_batch"
        return statement, params

    def _drop_orphaned_stages(self) -> None:
        """Drop staging tables that a killed process left in this schema (see stage_prefix)."""
        orphans = [
            name
            for (name,) in self.conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = ? AND starts_with(table_name, '_hw_stage_') "
                "AND NOT starts_with(table_name, ?)",
                [self.schema, stage_prefix()],
            ).fetchall()
        ]
        for name in orphans:
            log.warning("%s: dropping staging table %s left by an earlier load", self.what, name)
            self.conn.execute(f"DROP TABLE IF EXISTS {qualified(self.schema, name)}")

    def _prepare_publish(self) -> None:
        """Inside the publish transaction: the state table and the target's schema changes."""
        plan, execute = self.plan, self.conn.execute
        state_schema = quote_ident(plan.state_schema or self.schema)
        execute(f"CREATE SCHEMA IF NOT EXISTS {state_schema}")
        execute(
            f"CREATE TABLE IF NOT EXISTS {qualified(plan.state_schema or self.schema, STATE_TABLE)}"
            " (state_key VARCHAR PRIMARY KEY, cursor_value VARCHAR, cursor_type VARCHAR, "
            "load_id VARCHAR, boundary VARCHAR, updated_at TIMESTAMP WITH TIME ZONE)"
        )
        if plan.method == "overwrite":
            return
        if plan.existing is not None:
            for column in plan.add_columns:
                execute(
                    f"ALTER TABLE {self.table} ADD COLUMN {quote_ident(column.name)} "
                    f"{duckdb_type_for(column)}"
                )
            for column in plan.widen_columns:
                execute(
                    f"ALTER TABLE {self.table} ALTER COLUMN {quote_ident(column.name)} "
                    f"SET DATA TYPE {duckdb_type_for(column)}"
                )
            if plan.metadata is not None:
                for name, type_text in self._metadata_types():
                    if plan.existing.column(name) is None:
                        execute(
                            f"ALTER TABLE {self.table} ADD COLUMN {quote_ident(name)} {type_text}"
                        )
        else:
            self._create_target()

    def _metadata_types(self) -> list[tuple[str, str]]:
        return metadata_column_types(self.plan.metadata, "TIMESTAMP WITH TIME ZONE", "VARCHAR")

    def _create_target(self) -> None:
        defs = [f"{quote_ident(n)} {t}" for n, t in [*self.types, *self._metadata_types()]]
        self.conn.execute(f"CREATE TABLE {self.table} ({', '.join(defs)})")

    def write(self, batch: pa.RecordBatch) -> None:
        renamed = batch.rename_columns([f"c{i}" for i in range(batch.num_columns)])
        try:
            if self._stream is not None and renamed.schema != self._stream.schema:
                self._finish_stream()  # a batch of other Arrow types gets its own INSERT
            if self._stream is None:
                self._stream = StagingStream(
                    self.conn, self._insert, self._insert_params, renamed.schema
                )
            self._stream.put(renamed)
        except duckdb.Error as exc:
            raise translate(exc, self.what) from None
        self.rows += batch.num_rows

    def _finish_stream(self) -> None:
        """Wait until DuckDB has committed every batch written so far (to staging only)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.finish()
            except BaseException:
                stream.abort()
                raise

    def staged_max(self, column: str) -> Any:
        try:
            self._finish_stream()
        except duckdb.Error as exc:
            raise translate(exc, self.what) from None
        row = self.conn.execute(f"SELECT max({quote_ident(column)}) FROM {self.stage}").fetchone()
        return None if row is None else row[0]

    def commit(self, state: CursorState | None) -> int:
        try:
            self._finish_stream()
            self._give_settings_back()
            for attempt, limit in enumerate(PUBLISH_MEMORY_LIMITS, 1):
                self.conn.execute(f"SET GLOBAL memory_limit = '{limit}'")
                try:
                    self._publish_transaction(state)
                    break
                except duckdb.OutOfMemoryException:
                    self.conn.execute("ROLLBACK")
                    if attempt == len(PUBLISH_MEMORY_LIMITS):
                        raise
                    log.warning(
                        "%s: publish ran out of memory under memory_limit %s; retrying with %s",
                        self.what,
                        limit,
                        PUBLISH_MEMORY_LIMITS[attempt],
                    )
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None
        self.staged = self.active = False
        self.conn.close()
        return self.rows

    def interrupt(self) -> None:
        """Stop what the load runs in DuckDB now (from another thread: ``cancel``)."""
        if self._stream is not None:
            self._stream.interrupt()
        self.conn.interrupt()

    def stage_keyed(self, write: KeyedWrite) -> None:
        self._keyed.append(write)

    def _publish_transaction(self, state: CursorState | None) -> None:
        """Schema changes, the rows and the cursor state in one transaction."""
        self.conn.execute("BEGIN TRANSACTION")
        self._prepare_publish()
        for write in self._keyed:
            statement = keyed_sql(write, self.table, quote_ident, lambda _i: "?")
            self.conn.executemany(statement, keyed_params(write))
        self._publish()
        if state is not None:
            self._write_state(state)
        self.conn.execute("COMMIT")

    def _publish(self) -> None:
        plan, execute = self.plan, self.conn.execute
        names = [c.name for c in plan.columns]
        insert_cols = ident_list(names + [n for n, _ in self._metadata_types()])
        select = ident_list(names)
        params: list[Any] = []
        if plan.metadata is not None:
            select += ", ?::TIMESTAMPTZ, ?"
            params = [plan.metadata.loaded_at, plan.metadata.load_id]
        if plan.method == "overwrite":
            # The staging table has the new definition and every row: swap it in, copy nothing.
            execute(f"DROP TABLE IF EXISTS {self.table}")
            execute(f"ALTER TABLE {self.stage} RENAME TO {quote_ident(plan.target.name)}")
            return
        if plan.method == "merge":
            keys = plan.merge_keys
            match = " AND ".join(
                f"{self.table}.{quote_ident(k)} IS NOT DISTINCT FROM {self.stage}.{quote_ident(k)}"
                for k in keys
            )
            execute(f"DELETE FROM {self.table} USING {self.stage} WHERE {match}")
            execute(
                f"INSERT INTO {self.table} ({insert_cols}) SELECT {select} FROM "
                f"(SELECT *, row_number() OVER (PARTITION BY {ident_list(keys)} "
                f"ORDER BY rowid DESC) AS _hw_rank FROM {self.stage}) WHERE _hw_rank = 1",
                params,
            )
        else:
            execute(
                f"INSERT INTO {self.table} ({insert_cols}) SELECT {select} FROM {self.stage}",
                params,
            )
        execute(f"DROP TABLE {self.stage}")

    def _write_state(self, state: CursorState) -> None:
        text, kind = encode_cursor(state.value)
        table = qualified(self.plan.state_schema or self.schema, STATE_TABLE)
        self.conn.execute(f"DELETE FROM {table} WHERE state_key = ?", [state.state_key])
        self.conn.execute(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, now())",
            [state.state_key, text, kind, state.load_id, encode_boundary(state.boundary)],
        )

    def _give_settings_back(self) -> None:
        """The database's own ``threads`` and ``preserve_insertion_order`` (global to the
        database instance, which other connections of the process share)."""
        for name, value in self.database_settings.items():
            quoted = value.replace("'", "''")
            self.conn.execute(f"SET GLOBAL {name} = '{quoted}'")

    def abort(self) -> None:
        if not self.active:
            return
        self.active = False
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()  # its uncommitted rows roll back
        with contextlib.suppress(Exception):
            self.conn.execute("ROLLBACK")  # the publish
        with contextlib.suppress(Exception):
            self._give_settings_back()  # a failed load leaves them as it found them
        if self.staged:
            self.staged = False
            with contextlib.suppress(Exception):
                self.conn.execute(f"DROP TABLE IF EXISTS {self.stage}")
        if self.created_schema:
            with contextlib.suppress(Exception):  # fails (harmlessly) if no longer empty
                self.conn.execute(f"DROP SCHEMA {quote_ident(self.schema)}")
        with contextlib.suppress(Exception):
            self.conn.close()
