"""PostgreSQL target: COPY into a staging table, then publish in the same transaction.

* ``overwrite``: a new table is built under a staging name and swapped in with
  ``DROP`` + ``RENAME`` right before ``COMMIT``; readers see the old table until the commit and
  never an empty or half-filled one; a failure rolls everything back.
* ``append``: rows are staged in a temporary table and copied with ``INSERT ... SELECT``.
* ``merge``: staged rows are upserted with ``INSERT ... ON CONFLICT (keys) DO UPDATE``
  (the last staged row wins for a duplicated key).

The cursor state row in ``_headwater_state`` is written in the same transaction, so the cursor
only advances together with the data it describes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql

from headwater.connectors.base import (
    Column,
    CursorState,
    KeyedWrite,
    Loader,
    LoadPlan,
    MetadataColumns,
    Table,
    TableRef,
    Target,
)
from headwater.connectors.errors import (
    Cancelled,
    ConfigurationError,
    LoadFailed,
    ValueRejected,
)
from headwater.connectors.loaders import OpenLoaders, keyed_params, keyed_sql
from headwater.connectors.postgres.binarycopy import binary_encoder
from headwater.connectors.postgres.conn import (
    borrowed,
    cancel_backends,
    connect,
    give_back,
    lend,
    props_key,
    qualified,
    run_bound,
    translate,
)
from headwater.connectors.postgres.copyformat import to_csv
from headwater.connectors.postgres.source import COPY_HEADER, COPY_TRAILER
from headwater.connectors.postgres.types import fetch_columns, pg_type_for
from headwater.connectors.reuse import current_shelf
from headwater.connectors.values import (
    encode_boundary,
    encode_cursor,
    stored_state,
)

log = logging.getLogger(__name__)

STATE_TABLE = "_headwater_state"


class PostgresTarget(Target):
    def __init__(self, props: dict[str, Any]) -> None:
        super().__init__(props)
        self._loaders: OpenLoaders[PostgresLoader] = OpenLoaders()

    def _what(self, name: str = "") -> str:
        return f"PostgreSQL {self.props['host']}/{self.props['database']} {name}".rstrip()

    def default_schema(self) -> str:
        return str(self.props.get("schema") or "public")

    def test(self) -> None:
        with connect(self.props, autocommit=True) as conn:
            conn.execute("SELECT 1")

    def describe(self, ref: TableRef) -> Table | None:
        ref = TableRef(ref.name, ref.schema or self.default_schema())
        with borrowed(self.props) as conn:
            columns = fetch_columns(conn, ref)
        return Table(ref, tuple(columns)) if columns else None

    def type_for(self, column: Column) -> str:
        return pg_type_for(column)

    def read_state(self, state_schema: str | None, state_key: str) -> CursorState | None:
        schema = state_schema or self.default_schema()
        with borrowed(self.props) as conn:
            exists = conn.execute(
                "SELECT to_regclass(%s)", (sql.Identifier(schema, STATE_TABLE).as_string(conn),)
            ).fetchone()
            if exists is None or exists[0] is None:
                return None
            rows = run_bound(
                conn,
                sql.SQL(
                    "SELECT cursor_value, cursor_type, load_id, updated_at, boundary FROM {} "
                    "WHERE state_key = $1"
                ).format(sql.Identifier(schema, STATE_TABLE)),
                (state_key,),
            )
        row = rows[0] if rows else None
        return stored_state(state_key, row)

    def begin(self, plan: LoadPlan) -> Loader:
        return self._loaders.add(PostgresLoader(self, plan))

    def drop_tables(self, refs: Sequence[TableRef]) -> None:
        with borrowed(self.props) as conn:
            for ref in refs:
                table = qualified(ref.schema or self.default_schema(), ref.name)
                try:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
                except psycopg.Error as exc:
                    raise translate(exc, self._what(ref.name)) from None

    def cancel(self) -> None:
        cancel_backends(self.props, [loader.pid for loader in self._loaders.active()])

    def close(self) -> None:
        self._loaders.abort_all()


def _ensure_state_table(target: PostgresTarget, schema: str) -> None:
    """Create the state table outside the load transaction, tolerating a concurrent creator;
    once per run group when the group shares connections (``connectors.reuse``)."""
    shelf = current_shelf()
    if shelf is None:
        _create_state_table(target, schema)
        return
    key = ("postgres state table", props_key(target.props), schema)
    shelf.fact(key, lambda: _create_state_table(target, schema))


def _create_state_table(target: PostgresTarget, schema: str) -> bool:
    """Concurrent ``CREATE ... IF NOT EXISTS`` races in PostgreSQL (two creators both pass the
    check and one fails on the row type), so creators of one state table queue on an advisory
    lock held for the transaction; the suppressions stay for creators outside Headwater."""
    with borrowed(target.props) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"headwater state {schema}",))
        with (
            contextlib.suppress(psycopg.errors.InsufficientPrivilege),
            conn.transaction(),
        ):
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        with (
            contextlib.suppress(
                psycopg.errors.UniqueViolation,
                psycopg.errors.DuplicateTable,
                psycopg.errors.DuplicateObject,
            ),
            conn.transaction(),
        ):
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (state_key text PRIMARY KEY, "
                    "cursor_value text, cursor_type text, load_id text, boundary text, "
                    "updated_at timestamptz NOT NULL DEFAULT now())"
                ).format(sql.Identifier(schema, STATE_TABLE))
            )
    return True


#: True when the target has objects a table swap would lose (dependent views, indexes, grants,
#: user triggers) and exactly the staging table's columns, in order, with the same types.
_KEEP_IN_PLACE_SQL = """
WITH t AS (SELECT %(target)s::regclass AS oid), s AS (SELECT %(stage)s::regclass AS oid)
SELECT (
    EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass
            AND d.objid = r.oid, t WHERE d.refobjid = t.oid AND r.ev_class <> t.oid)
    OR EXISTS (SELECT 1 FROM pg_index i, t WHERE i.indrelid = t.oid)
    OR EXISTS (SELECT 1 FROM pg_class c, t WHERE c.oid = t.oid AND c.relacl IS NOT NULL)
    OR EXISTS (SELECT 1 FROM pg_trigger g, t WHERE g.tgrelid = t.oid AND NOT g.tgisinternal)
) AND (
    SELECT array_agg((a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
    FROM pg_attribute a, t WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
) IS NOT DISTINCT FROM (
    SELECT array_agg((a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
    FROM pg_attribute a, s WHERE a.attrelid = s.oid AND a.attnum > 0 AND NOT a.attisdropped
)
"""


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class PostgresLoader(Loader):
    def __init__(self, target: PostgresTarget, plan: LoadPlan) -> None:
        self.plan = plan
        self.target = target
        self.schema = plan.target.schema or target.default_schema()
        self.table = plan.target.name
        self.what = target._what(f"{self.schema}.{self.table}")
        digest = hashlib.sha1(f"{self.schema}.{self.table}:{plan.load_id}".encode()).hexdigest()
        self.stage = f"_hw_stage_{digest[:16]}"
        self.rows = 0
        self.active = True
        self._copy_cm: Any = None
        self._copy: Any = None
        self._keyed: list[KeyedWrite] = []
        _ensure_state_table(target, plan.state_schema or self.schema)
        self.conn = lend(target.props)
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        self.pid = int(row[0])
        try:
            self._prepare()
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None

    # -- setup --------------------------------------------------------------------------------

    def _defs(self, types: list[tuple[str, str]]) -> list[sql.Composable]:
        return [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in types]

    def _metadata_defs(self, with_defaults: bool) -> list[sql.Composable]:
        meta = self.plan.metadata
        if meta is None:
            return []
        loaded_at = sql.SQL(" DEFAULT {}").format(sql.Literal(meta.loaded_at))
        load_id = sql.SQL(" DEFAULT {}").format(sql.Literal(meta.load_id))
        return [
            sql.SQL("{} timestamp with time zone{}").format(
                sql.Identifier(MetadataColumns.LOADED_AT),
                loaded_at if with_defaults else sql.SQL(""),
            ),
            sql.SQL("{} text{}").format(
                sql.Identifier(MetadataColumns.LOAD_ID), load_id if with_defaults else sql.SQL("")
            ),
        ]

    def _prepare(self) -> None:
        plan = self.plan
        execute = self.conn.execute
        types = plan.column_types(pg_type_for, replacing=plan.method == "overwrite")
        target = qualified(self.schema, self.table)
        if plan.method == "overwrite":
            stage = qualified(self.schema, self.stage)
            execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
            defs = self._defs(types) + self._metadata_defs(with_defaults=True)
            execute(sql.SQL("CREATE TABLE {} ({})").format(stage, sql.SQL(", ").join(defs)))
        else:
            if plan.existing is None:
                defs = self._defs(types) + self._metadata_defs(with_defaults=False)
                if plan.method == "merge" and plan.merge_keys:
                    defs.append(sql.SQL("PRIMARY KEY ({})").format(self._idents(plan.merge_keys)))
                execute(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(defs)))
            else:
                self._apply_drift(target)
            if plan.method == "merge":
                self._ensure_unique_index(target)
            stage = sql.Identifier(self.stage)
            execute(
                sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
                    stage, sql.SQL(", ").join(self._defs(types))
                )
            )
        self.stage_ident = stage
        if plan.from_tables:
            self._stage_parts(stage)
            return
        # Arrow batches go as binary COPY when every column has an exact binary encoding
        # (much less parsing for the server), else as CSV; a native stream is binary already.
        self._binary = None
        if not plan.native:
            self._binary = binary_encoder(
                [(c.arrow_type, t) for c, (_, t) in zip(plan.columns, types, strict=True)]
            )
        fmt = sql.SQL("binary" if plan.native or self._binary else "csv")
        if not plan.native:
            log.info(
                "%s: Arrow batches sent as %s",
                self.what,
                "binary COPY"
                if self._binary
                else "CSV COPY (a column has no exact binary encoding)",
            )
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(
            stage, self._idents([c.name for c in plan.columns]), fmt
        )
        self._cursor = self.conn.cursor()
        self._copy_cm = self._cursor.copy(statement)
        self._copy = self._copy_cm.__enter__()
        if plan.native:
            self._copy.write(COPY_HEADER)
        elif self._binary is not None:
            self._copy.write(self._binary.header())

    def _stage_parts(self, stage: sql.Composable) -> None:
        """The load's rows are the committed parts' tables (a run split across workers)."""
        names = self._idents([c.name for c in self.plan.columns])
        expected = self.plan.from_rows or (None,) * len(self.plan.from_tables)
        for ref, rows in zip(self.plan.from_tables, expected, strict=True):
            cursor = self.conn.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                    stage, names, names, qualified(ref.schema or self.schema, ref.name)
                )
            )
            if rows is not None and cursor.rowcount != rows:
                raise LoadFailed(
                    f"{self.what}: the part table {ref.name} holds {cursor.rowcount} rows, "
                    f"its part committed {rows}; nothing was published"
                )
            self.rows += max(cursor.rowcount, 0)

    def _drop_parts(self) -> None:
        for ref in self.plan.from_tables:
            self.conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {}").format(
                    qualified(ref.schema or self.schema, ref.name)
                )
            )

    def _apply_drift(self, target: sql.Composable) -> None:
        plan = self.plan
        existing = plan.existing
        assert existing is not None
        for column in plan.add_columns:
            log.info("Adding column %s to %s", column.name, self.what)
            self.conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    target, sql.Identifier(column.name), sql.SQL(pg_type_for(column))
                )
            )
        for column in plan.widen_columns:
            new_type = pg_type_for(column)
            log.info("Widening column %s of %s to %s", column.name, self.what, new_type)
            self.conn.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::{}").format(
                    target,
                    sql.Identifier(column.name),
                    sql.SQL(new_type),
                    sql.Identifier(column.name),
                    sql.SQL(new_type),
                )
            )
        if plan.metadata is not None:
            for name, type_text in (
                (MetadataColumns.LOADED_AT, "timestamp with time zone"),
                (MetadataColumns.LOAD_ID, "text"),
            ):
                if existing.column(name) is None:
                    self.conn.execute(
                        sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                            target, sql.Identifier(name), sql.SQL(type_text)
                        )
                    )

    def _ensure_unique_index(self, target: sql.Composable) -> None:
        keys = sorted(self.plan.merge_keys)
        rows = self.conn.execute(
            "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
            "WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indpred IS NULL "
            "GROUP BY i.indexrelid",
            (target.as_string(self.conn),),
        ).fetchall()
        if any(sorted(row[0]) == keys for row in rows):
            return
        digest = hashlib.sha1(f"{self.schema}.{self.table}:{keys}".encode()).hexdigest()[:16]
        log.info("Creating a unique index on %s (%s) for merge", self.what, ", ".join(keys))
        self.conn.execute(
            sql.SQL("CREATE UNIQUE INDEX {} ON {} ({})").format(
                sql.Identifier(f"_hw_merge_key_{digest}"), target, self._idents(keys)
            )
        )

    @staticmethod
    def _idents(names: Any) -> sql.Composable:
        return sql.SQL(", ").join(sql.Identifier(n) for n in names)

    # -- loading ------------------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        try:
            if self._binary is not None:
                self._copy.write(self._binary.batch(batch))
            else:
                self._copy.write(to_csv(batch))
        except psycopg.Error as exc:
            raise translate(exc, self.what) from None
        except pa.ArrowInvalid as exc:  # an integer out of its column's range
            raise ValueRejected(f"{self.what}: value rejected: {exc}") from None
        self.rows += batch.num_rows

    def write_native(self, chunk: bytes) -> None:
        try:
            self._copy.write(chunk)
        except psycopg.Error as exc:
            raise translate(exc, self.what) from None

    def _finish_copy(self) -> None:
        if self._copy_cm is None:
            return
        cm, self._copy_cm = self._copy_cm, None
        try:
            if self.plan.native:
                self._copy.write(COPY_TRAILER)
            elif self._binary is not None:
                self._copy.write(self._binary.trailer())
            cm.__exit__(None, None, None)
            self.rows = max(self._cursor.rowcount, 0)
        except psycopg.Error as exc:
            raise translate(exc, self.what) from None

    def staged_max(self, column: str) -> Any:
        self._finish_copy()
        row = self.conn.execute(
            sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), self.stage_ident)
        ).fetchone()
        return None if row is None else row[0]

    def commit(self, state: CursorState | None) -> int:
        try:
            self._finish_copy()
            self._apply_keyed()
            self._publish()
            self._drop_parts()
            if state is not None:
                self._write_state(state)
            self.conn.commit()
        except BaseException as exc:
            self.abort()
            raise translate(exc, self.what) from None
        self.active = False
        give_back(self.target.props, self.conn)
        return self.rows

    def stage_keyed(self, write: KeyedWrite) -> None:
        self._keyed.append(write)

    def _apply_keyed(self) -> None:
        table = qualified(self.schema, self.table).as_string(self.conn)
        for write in self._keyed:
            statement = keyed_sql(
                write, table, lambda n: sql.Identifier(n).as_string(self.conn), "${}".format
            )
            with psycopg.RawCursor(self.conn) as cursor:
                cursor.executemany(statement, keyed_params(write))

    def _publish(self) -> None:
        plan = self.plan
        execute = self.conn.execute
        target = qualified(self.schema, self.table)
        if plan.method == "overwrite":
            if plan.metadata is not None:
                for name in (MetadataColumns.LOADED_AT, MetadataColumns.LOAD_ID):
                    execute(
                        sql.SQL("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT").format(
                            self.stage_ident, sql.Identifier(name)
                        )
                    )
            if plan.existing is not None and self._refill_in_place(target):
                return
            try:
                execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
            except psycopg.errors.DependentObjectsStillExist as exc:
                raise ConfigurationError(
                    f"{self.what}: the overwrite cannot replace the table because other objects "
                    f"depend on it ({_first_line(exc)}); they are kept only while the source's "
                    "columns and types match the table's"
                ) from None
            execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    self.stage_ident, sql.Identifier(self.table)
                )
            )
            return
        names = [c.name for c in plan.columns]
        insert_cols = list(names)
        select_items: list[sql.Composable] = [sql.Identifier(n) for n in names]
        params: list[Any] = []
        if plan.metadata is not None:
            insert_cols += [MetadataColumns.LOADED_AT, MetadataColumns.LOAD_ID]
            select_items += [sql.SQL("$1"), sql.SQL("$2")]
            params += [plan.metadata.loaded_at, plan.metadata.load_id]
        statement = sql.SQL("INSERT INTO {} ({}) SELECT ").format(target, self._idents(insert_cols))
        if plan.method == "merge":
            keys = self._idents(plan.merge_keys)
            statement += sql.SQL("DISTINCT ON ({}) {} FROM {} ORDER BY {}, ctid DESC").format(
                keys, sql.SQL(", ").join(select_items), self.stage_ident, keys
            )
            updates = [n for n in insert_cols if n not in plan.merge_keys]
            if updates:
                statement += sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(
                    keys,
                    sql.SQL(", ").join(
                        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n))
                        for n in updates
                    ),
                )
            else:
                statement += sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(keys)
        else:
            statement += sql.SQL("{} FROM {}").format(
                sql.SQL(", ").join(select_items), self.stage_ident
            )
        run_bound(self.conn, statement, params)

    def _refill_in_place(self, target: sql.Composable) -> bool:
        """Overwrite by ``TRUNCATE`` + ``INSERT`` when the table has views, indexes, grants or
        triggers that swapping in the staging table would lose, and the staging table has the
        same columns and types; say whether it did. Readers wait on the lock and then see the
        new rows (never an empty table); the rows are written twice, so the swap stays the
        default for tables without such objects."""
        row = self.conn.execute(
            _KEEP_IN_PLACE_SQL,
            {"target": target.as_string(self.conn), "stage": self.stage_ident.as_string(self.conn)},
        ).fetchone()
        if row is None or not row[0]:
            return False
        log.info("%s: overwritten in place to keep its views, indexes and grants", self.what)
        execute = self.conn.execute
        execute(sql.SQL("TRUNCATE {}").format(target))
        execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(target, self.stage_ident))
        execute(sql.SQL("DROP TABLE {}").format(self.stage_ident))
        return True

    def _write_state(self, state: CursorState) -> None:
        text, kind = encode_cursor(state.value)
        schema = self.plan.state_schema or self.schema
        run_bound(
            self.conn,
            sql.SQL(
                "INSERT INTO {} (state_key, cursor_value, cursor_type, load_id, boundary, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, now()) "
                "ON CONFLICT (state_key) DO UPDATE SET "
                "cursor_value = EXCLUDED.cursor_value, cursor_type = EXCLUDED.cursor_type, "
                "load_id = EXCLUDED.load_id, boundary = EXCLUDED.boundary, "
                "updated_at = EXCLUDED.updated_at"
            ).format(sql.Identifier(schema, STATE_TABLE)),
            (state.state_key, text, kind, state.load_id, encode_boundary(state.boundary)),
        )

    def abort(self) -> None:
        if not self.active:
            return
        self.active = False
        if self._copy_cm is not None:
            cm, self._copy_cm = self._copy_cm, None
            error = Cancelled("load aborted")
            with contextlib.suppress(Exception):
                cm.__exit__(Cancelled, error, None)
        with contextlib.suppress(Exception):
            self.conn.rollback()
        with contextlib.suppress(Exception):
            self.conn.close()
