"""Snowflake target: Parquet through the staging table's internal stage, published at once.

A load creates a transient staging table ``_HW_STAGE_<table digest>_<load digest>`` (columns
``C0``... of the target's types, JSON as text), writes the batches as Parquet files and
``PUT`` s them to that table's stage (:mod:`.stagefiles`), then loads them with one
``COPY INTO`` (``MATCH_BY_COLUMN_NAME``, ``PURGE``). No row is inserted one by one.

Publishing: Snowflake commits any open transaction before a DDL statement, so the schema
work (creating the table or the state table, adding columns) is done first and recorded in a
:class:`~.ddl.DdlJournal` that a failed load undoes. Then, in one transaction with the cursor
state row: ``append`` is an ``INSERT ... SELECT``; ``merge`` replaces the rows of the staged
keys by the last staged row per key (``DELETE ... USING``, then ``INSERT``); ``overwrite`` is a
``DELETE`` and ``INSERT``. An ``overwrite`` that has no state to commit (a full load) is
published instead by ``ALTER TABLE ... SWAP WITH`` a copy of the table (``CREATE TABLE ...
LIKE ... COPY GRANTS``) filled from the stage, which swaps atomically on its own. A server
that lacks ``SWAP WITH`` (the fakesnow test server) is detected by the statement's refusal,
and the load takes the transactional path: :attr:`SnowflakeLoader.path` says which one ran.

A killed load leaves its staging table (transient, no fail-safe cost); the next load into the
same table drops it. The state lives in ``_HEADWATER_STATE`` in the state schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa

from headwater.connectors.base import (
    Column,
    CursorState,
    Loader,
    LoadPlan,
    Table,
    TableRef,
    Target,
    metadata_column_types,
)
from headwater.connectors.loaders import OpenLoaders
from headwater.connectors.snowflake.conn import (
    STATE_TABLE,
    check_reachable,
    connect,
    fold,
    ident,
    qualified,
    run,
    translate,
)
from headwater.connectors.snowflake.ddl import DdlJournal
from headwater.connectors.snowflake.source import fetch_columns
from headwater.connectors.snowflake.stagefiles import SEQ, StageWriter, staged_name
from headwater.connectors.snowflake.types import (
    publish_expression,
    snowflake_type_for,
    stage_type,
)
from headwater.connectors.sqltext import quote_ident
from headwater.connectors.values import encode_boundary, encode_cursor, stored_state

log = logging.getLogger(__name__)

STATE_COLUMNS = (
    '"STATE_KEY" VARCHAR, "CURSOR_VALUE" VARCHAR, "CURSOR_TYPE" VARCHAR, "LOAD_ID" VARCHAR, '
    '"BOUNDARY" VARCHAR, "UPDATED_AT" TIMESTAMP_TZ(6)'
)


class SnowflakeTarget(Target):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self._loaders: OpenLoaders[SnowflakeLoader] = OpenLoaders()
        #: False once the server refused ``SWAP WITH`` (see the module docstring).
        self.can_swap = True

    def default_schema(self) -> str:
        return str(self.props.get("schema") or "PUBLIC")

    def what(self, name: str) -> str:
        return f"Snowflake {self.props['account']}/{self.props['database']} {name}"

    def test(self) -> None:
        check_reachable(self.props)

    def describe(self, ref: TableRef) -> Table | None:
        schema = ref.schema or self.default_schema()
        conn = connect(self.props)
        try:
            columns = fetch_columns(conn, self.props, schema, ref.name)
        except Exception as exc:
            raise translate(exc, self.what(f"{schema}.{ref.name}")) from None
        finally:
            conn.close()
        return Table(TableRef(ref.name, schema), tuple(columns)) if columns else None

    def type_for(self, column: Column) -> str:
        return snowflake_type_for(column)

    def read_state(self, state_schema: str | None, state_key: str) -> CursorState | None:
        schema = state_schema or self.default_schema()
        conn = connect(self.props)
        try:
            if not _table_exists(conn, self.props, schema, STATE_TABLE):
                return None
            rows = run(
                conn,
                'SELECT "CURSOR_VALUE", "CURSOR_TYPE", "LOAD_ID", "UPDATED_AT", "BOUNDARY" '
                f'FROM {_state_table(self.props, schema)} WHERE "STATE_KEY" = ?',
                (state_key,),
            )
        finally:
            conn.close()
        return stored_state(state_key, rows[0] if rows else None)

    def begin(self, plan: LoadPlan) -> Loader:
        return self._loaders.add(SnowflakeLoader(self, plan))

    def cancel(self) -> None:
        for loader in self._loaders.active():
            loader.interrupt()

    def close(self) -> None:
        self._loaders.abort_all()


def _state_table(props: dict[str, Any], schema: str) -> str:
    database = quote_ident(fold(str(props["database"]), props))
    return f"{database}.{ident(schema, props)}.{quote_ident(STATE_TABLE)}"


def _table_exists(conn: Any, props: dict[str, Any], schema: str, name: str) -> bool:
    database = quote_ident(fold(str(props["database"]), props))
    rows = run(
        conn,
        f"SELECT COUNT(*) FROM {database}.INFORMATION_SCHEMA.TABLES "
        "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        (fold(schema, props), name),
    )
    return bool(rows and rows[0][0])


class SnowflakeLoader(Loader):
    def __init__(self, target: SnowflakeTarget, plan: LoadPlan) -> None:
        self.target = target
        self.props = target.props
        self.plan = plan
        self.schema = plan.target.schema or target.default_schema()
        self.table = qualified(self.schema, plan.target.name, self.props)
        self.what = target.what(f"{self.schema}.{plan.target.name}")
        table_digest = hashlib.sha1(self.table.encode()).hexdigest()[:10].upper()
        load_digest = hashlib.sha1(plan.load_id.encode()).hexdigest()[:8].upper()
        self.stage_prefix = f"_HW_STAGE_{table_digest}_"
        self.stage_name = f"{self.stage_prefix}{load_digest}"
        self.stage = self._in_schema(self.stage_name)
        #: How the rows were published: ``swap``, ``delete_insert``, ``insert`` or ``merge``.
        self.path = ""
        self.active = True
        self.staged = False
        self.query_ids: list[str] = []
        self.conn = connect(self.props)
        self.ddl = DdlJournal(self.props, self.what)
        self.files = StageWriter(self._put)
        try:
            self._prepare()
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None

    def _in_schema(self, name: str) -> str:
        database = quote_ident(fold(str(self.props["database"]), self.props))
        return f"{database}.{ident(self.schema, self.props)}.{name}"

    def _run(self, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        cursor = self.conn.cursor()
        try:
            cursor.execute(statement, params)
            if cursor.sfqid:
                self.query_ids.append(str(cursor.sfqid))
            return [tuple(r) for r in cursor.fetchall()] if cursor.description else []
        finally:
            cursor.close()

    # -- schema work (committed before the load, undone if it fails) ---------------------------

    def _prepare(self) -> None:
        plan, props = self.plan, self.props
        database = quote_ident(fold(str(props["database"]), props))
        schema = f"{database}.{ident(self.schema, props)}"
        self._run(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self._run(f"USE SCHEMA {schema}")
        state_schema = plan.state_schema or self.schema
        if not _table_exists(self.conn, props, state_schema, STATE_TABLE):
            self._run(f"CREATE SCHEMA IF NOT EXISTS {database}.{ident(state_schema, props)}")
            self._run(
                f"CREATE TABLE IF NOT EXISTS {_state_table(props, state_schema)} ({STATE_COLUMNS})"
            )
            self.ddl.created_table(_state_table(props, state_schema))
        self.types = plan.column_types(snowflake_type_for)
        meta = self._metadata_types()
        if plan.existing is None:
            defs = ", ".join(f"{ident(n, props)} {t}" for n, t in [*self.types, *meta])
            self._run(f"CREATE TABLE {self.table} ({defs})")
            self.ddl.created_table(self.table)
        else:
            widened = {c.name for c in plan.widen_columns}
            for name, type_text in [*self.types, *meta]:
                current = plan.existing.column(name)
                column = ident(name, props)
                if current is None:
                    self._run(f"ALTER TABLE {self.table} ADD COLUMN {column} {type_text}")
                    self.ddl.added_column(self.table, column)
                elif name in widened and current.source_type != type_text:
                    self._run(
                        f"ALTER TABLE {self.table} ALTER COLUMN {column} SET DATA TYPE {type_text}"
                    )
        self._drop_orphaned_stages()
        defs = ", ".join(f"{staged_name(i)} {stage_type(t)}" for i, (_, t) in enumerate(self.types))
        self._run(f"CREATE TRANSIENT TABLE {self.stage} ({defs}, {SEQ} NUMBER(19,0))")
        self.staged = True

    def _metadata_types(self) -> list[tuple[str, str]]:
        return metadata_column_types(self.plan.metadata, "TIMESTAMP_TZ(6)", "VARCHAR(64)")

    def _drop_orphaned_stages(self) -> None:
        """Staging tables of this target table left by a killed load."""
        database = quote_ident(fold(str(self.props["database"]), self.props))
        rows = self._run(
            f"SELECT TABLE_NAME FROM {database}.INFORMATION_SCHEMA.TABLES "
            "WHERE TABLE_SCHEMA = ? AND STARTSWITH(TABLE_NAME, ?)",
            (fold(self.schema, self.props), self.stage_prefix),
        )
        for (name,) in rows:
            log.warning("%s: dropping staging table %s left by an earlier load", self.what, name)
            self._run(f"DROP TABLE IF EXISTS {self._in_schema(quote_ident(str(name)))}")

    # -- staging --------------------------------------------------------------------------------

    def _put(self, path: Path) -> None:
        self._run(
            f"PUT 'file://{path.as_posix()}' @%{self.stage_name} "
            "AUTO_COMPRESS=FALSE OVERWRITE=TRUE PARALLEL=4"
        )

    def write(self, batch: pa.RecordBatch) -> None:
        try:
            self.files.write(batch)
        except Exception as exc:
            raise translate(exc, self.what) from None

    def _copy_staged(self) -> None:
        """Upload the open file and load every staged file into the staging table."""
        self.files.flush()
        if self.files.files and not getattr(self, "_copied", False):
            self._run(
                f"COPY INTO {self.stage_name} FROM @%{self.stage_name} "
                "FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_SENSITIVE "
                "PURGE = TRUE ON_ERROR = ABORT_STATEMENT"
            )
            self._copied = True

    def staged_max(self, column: str) -> Any:
        self._copy_staged()
        index = [c.name for c in self.plan.columns].index(column)
        rows = self._run(f"SELECT MAX({staged_name(index)}) FROM {self.stage}")
        return rows[0][0] if rows else None

    # -- publishing -------------------------------------------------------------------------------

    def commit(self, state: CursorState | None) -> int:
        try:
            self._copy_staged()
            swapped = False
            if self.plan.method == "overwrite" and state is None and self.target.can_swap:
                swapped = self._publish_by_swap()
            if not swapped:
                self._run("BEGIN")
                self._publish()
                if state is not None:
                    self._write_state(state)
                self._run("COMMIT")
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None
        log.info("%s: published %d rows by %s", self.what, self.files.rows, self.path)
        self.ddl.forget()
        self._finish()
        return self.files.rows

    def _select(self, prefix: str = "") -> tuple[list[str], list[str]]:
        """The target's columns and the matching items over the staging table (its columns
        prefixed with ``prefix``, e.g. ``s.``)."""
        plan, props = self.plan, self.props
        names = [ident(c.name, props) for c in plan.columns]
        items = [
            publish_expression(t, prefix + staged_name(i)) for i, (_, t) in enumerate(self.types)
        ]
        if plan.metadata is not None:
            names += [ident(n, props) for n, _ in self._metadata_types()]
            loaded_at = plan.metadata.loaded_at.isoformat()
            items += [f"'{loaded_at}'::TIMESTAMP_TZ(6)", _text_literal(plan.metadata.load_id)]
        return names, items

    def _publish_by_swap(self) -> bool:
        """Overwrite by ``SWAP WITH`` a filled copy; False when the server has no SWAP.

        The capability is probed on two empty copies first, so a server without it costs two
        empty tables, not a copy of every row."""
        names, items = self._select()
        fresh = self._in_schema(f"{self.stage_name}_NEW")
        probe = self._in_schema(f"{self.stage_name}_PROBE")
        self._run(f"CREATE TABLE {fresh} LIKE {self.table} COPY GRANTS")
        self._run(f"CREATE TABLE {probe} LIKE {self.table} COPY GRANTS")
        try:
            self._run(f"ALTER TABLE {fresh} SWAP WITH {probe}")
        except Exception as exc:
            if getattr(exc, "errno", None) not in (1003, 2003, 1420) and "SWAP" not in str(exc):
                raise
            log.info("%s: the server has no ALTER TABLE ... SWAP WITH: %s", self.what, exc)
            self.target.can_swap = False
            return False
        finally:
            with contextlib.suppress(Exception):
                self._run(f"DROP TABLE IF EXISTS {probe}")
        self._run(
            f"INSERT INTO {fresh} ({', '.join(names)}) SELECT {', '.join(items)} FROM {self.stage}"
        )
        self._run(f"ALTER TABLE {self.table} SWAP WITH {fresh}")
        self.path = "swap"
        return True

    def _publish(self) -> None:
        plan = self.plan
        names, items = self._select()
        if plan.method == "merge":
            self._merge()
            return
        if plan.method == "overwrite":
            self._run(f"DELETE FROM {self.table}")
            self.path = "delete_insert"
        else:
            self.path = "insert"
        self._run(
            f"INSERT INTO {self.table} ({', '.join(names)}) SELECT {', '.join(items)} "
            f"FROM {self.stage}"
        )

    def _merge(self) -> None:
        """Delete the target rows whose keys are staged (keys equal, or both NULL), then
        insert the last staged row per key: one transaction, like a ``MERGE``, which
        fakesnow cannot run inside a transaction."""
        plan, props = self.plan, self.props
        names, items = self._select()
        order = [c.name for c in plan.columns]
        keys = [order.index(k) for k in plan.merge_keys]
        match = " AND ".join(
            f"({self.table}.{ident(order[i], props)} = s.{staged_name(i)} OR "
            f"({self.table}.{ident(order[i], props)} IS NULL AND s.{staged_name(i)} IS NULL))"
            for i in keys
        )
        self._run(f"DELETE FROM {self.table} USING {self.stage} AS s WHERE {match}")
        partition = ", ".join(staged_name(i) for i in keys)
        self._run(
            f"INSERT INTO {self.table} ({', '.join(names)}) SELECT {', '.join(items)} "
            f"FROM {self.stage} QUALIFY ROW_NUMBER() OVER (PARTITION BY {partition} "
            f"ORDER BY {SEQ} DESC) = 1"
        )
        self.path = "merge"

    def _write_state(self, state: CursorState) -> None:
        text, kind = encode_cursor(state.value)
        table = _state_table(self.props, self.plan.state_schema or self.schema)
        self._run(f'DELETE FROM {table} WHERE "STATE_KEY" = ?', (state.state_key,))
        self._run(
            f"INSERT INTO {table} SELECT ?, ?, ?, ?, ?, CURRENT_TIMESTAMP()",
            (state.state_key, text, kind, state.load_id, encode_boundary(state.boundary)),
        )

    # -- ending -----------------------------------------------------------------------------------

    def _finish(self) -> None:
        self.active = False
        if self.staged:
            self.staged = False
            with contextlib.suppress(Exception):
                self._run(f"DROP TABLE IF EXISTS {self.stage}")
            with contextlib.suppress(Exception):
                self._run(f"DROP TABLE IF EXISTS {self.stage}_NEW")
        self.files.close()
        with contextlib.suppress(Exception):
            self.conn.close()

    def interrupt(self) -> None:
        """Abort this load's running statement (from another thread)."""
        for query_id in self.query_ids[-1:]:
            with contextlib.suppress(Exception):
                self.conn.cursor().abort_query(query_id)

    def abort(self) -> None:
        """Roll back, drop the staging tables, then undo the load's schema changes."""
        if not self.active:
            return
        with contextlib.suppress(Exception):
            self._run("ROLLBACK")
        self._finish()
        self.ddl.rollback()


def _text_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
