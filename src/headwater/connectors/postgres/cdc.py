"""PostgreSQL change capture through a logical replication slot and ``pgoutput``.

Per river, Headwater owns a publication ``hw_pub_<name>`` (the river's CDC tables) and a
logical slot ``hw_slot_<name>``. Changes are read with ``pg_logical_slot_peek_binary_changes``
(psycopg 3 cannot stream the replication protocol), applied and committed at the target with
the position, and only then is the slot advanced (``pg_replication_slot_advance``): a crash
between the two re-reads transactions the target already has, which the stored position
skips. A table's initial snapshot comes from a *temporary* slot created with ``SNAPSHOT
'export'`` on a replication connection: the exported snapshot holds exactly the transactions
committed before the slot's consistent point, which becomes the table's position.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.adapt import Transformer
from psycopg.pq import Format

from headwater.connectors.base import Column, TableRef
from headwater.connectors.changes import Change, ChangeReader, ChangeTransaction, Lag
from headwater.connectors.errors import ConfigurationError, ConnectorError
from headwater.connectors.postgres import pgoutput
from headwater.connectors.postgres.conn import connect, qualified, translate

CarrierFor = Callable[[str], Column | None]

_IDENTITY_SQL = """
SELECT c.oid, c.relreplident, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid
       AND i.indisprimary)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s
"""


def slot_names(name: str) -> tuple[str, str]:
    """``(publication, slot)`` of a river's change stream (``name``: letters, digits, _)."""
    clean = "".join(ch if ch.isalnum() else "_" for ch in name.lower())[:40]
    return f"hw_pub_{clean}", f"hw_slot_{clean}"


class PostgresChangeReader(ChangeReader):
    def __init__(
        self, props: dict[str, Any], name: str, describe: Callable[[TableRef], Sequence[Column]]
    ) -> None:
        self.props = props
        self.publication, self.slot = slot_names(name)
        self._describe = describe
        self._columns: dict[TableRef, dict[str, Column]] = {}
        self._conn: psycopg.Connection[Any] | None = None

    def _what(self) -> str:
        return f"PostgreSQL {self.props['host']}/{self.props['database']} slot {self.slot}"

    def _session(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.props, autocommit=True)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    # -- setup --------------------------------------------------------------------------------

    def prepare(self, table: TableRef) -> None:
        try:
            self._prepare(table)
        except psycopg.Error as exc:
            raise translate(exc, self._what()) from None

    def _prepare(self, table: TableRef) -> None:
        conn = self._session()
        level = conn.execute("SHOW wal_level").fetchone()
        if level is None or level[0] != "logical":
            raise ConfigurationError(
                f"{self._what()}: change capture needs wal_level = logical on the source "
                f"(it is {level[0] if level else 'unknown'}); set it and restart PostgreSQL"
            )
        row = conn.execute(_IDENTITY_SQL, (table.schema, table.name)).fetchone()
        if row is None:
            raise ConfigurationError(f"{self._what()}: table {table.display()} does not exist")
        _oid, identity, has_pk = row
        if identity == "n" or (identity == "d" and not has_pk):
            raise ConfigurationError(
                f"{self._what()}: table {table.display()} has no primary key and no replica "
                "identity, so its updates and deletes cannot be captured (PostgreSQL would "
                "refuse them once the table is published); add a primary key, or run ALTER "
                "TABLE ... REPLICA IDENTITY FULL and load it with the append method (change log)"
            )
        target = qualified(table.schema, table.name)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.slot,))
            exists = conn.execute(
                "SELECT 1 FROM pg_publication WHERE pubname = %s", (self.publication,)
            ).fetchone()
            if exists is None:
                conn.execute(
                    sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                        sql.Identifier(self.publication), target
                    )
                )
            elif (
                conn.execute(
                    "SELECT 1 FROM pg_publication_tables WHERE pubname = %s "
                    "AND schemaname = %s AND tablename = %s",
                    (self.publication, table.schema, table.name),
                ).fetchone()
                is None
            ):
                conn.execute(
                    sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                        sql.Identifier(self.publication), target
                    )
                )
        if self._slot_row() is None:
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                conn.execute(
                    "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (self.slot,)
                )

    def _slot_row(self) -> tuple[Any, ...] | None:
        return (
            self._session()
            .execute(
                "SELECT confirmed_flush_lsn::text, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                "FROM pg_replication_slots WHERE slot_name = %s",
                (self.slot,),
            )
            .fetchone()
        )

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[tuple[str | None, str]]:
        temporary = f"hw_snap_{secrets.token_hex(6)}"
        try:
            conn = connect(self.props, autocommit=True, replication="database")
        except ConnectorError:
            raise
        try:
            try:
                row = conn.execute(
                    f"CREATE_REPLICATION_SLOT {temporary} TEMPORARY LOGICAL pgoutput "
                    "(SNAPSHOT 'export')"
                ).fetchone()
            except psycopg.Error as exc:
                raise translate(exc, self._what()) from None
            assert row is not None
            _slot, consistent_point, snapshot_name, _plugin = row
            yield str(snapshot_name), str(consistent_point)
        finally:
            conn.close()

    # -- reading ------------------------------------------------------------------------------

    def columns(self, table: TableRef, refresh: bool = False) -> dict[str, Column]:
        if refresh or table not in self._columns:
            self._columns[table] = {c.name: c for c in self._describe(table)}
        return self._columns[table]

    def read(
        self, table: TableRef, since: str, max_changes: int, carrier: CarrierFor | None = None
    ) -> Iterator[ChangeTransaction]:
        conn = self._session()
        loaders = _Loaders(conn)
        since_lsn = pgoutput.lsn_int(since)
        relations: dict[int, pgoutput.Relation] = {}
        wanted: set[int] = set()
        decoded = _Decoded(table, self, carrier or (lambda name: self.columns(table).get(name)))
        begin: pgoutput.Begin | None = None
        changes: list[Change] = []
        size = 0
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.slot,))
                cursor = conn.cursor(name="hw_changes")
                cursor.execute(
                    "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, "
                    "'proto_version', '1', 'publication_names', %s)",
                    (self.slot, self.publication),
                )
                for (data,) in cursor:
                    message = pgoutput.decode(bytes(data))
                    if isinstance(message, pgoutput.Begin):
                        begin, changes, size = message, [], 0
                    elif isinstance(message, pgoutput.Commit):
                        if begin is not None and begin.final_lsn >= since_lsn and changes:
                            yield ChangeTransaction(
                                position=pgoutput.lsn_text(message.end_lsn),
                                log_position=pgoutput.lsn_text(message.commit_lsn),
                                committed_at=message.committed_at,
                                changes=changes,
                                size_bytes=size,
                            )
                        begin, changes = None, []
                    elif isinstance(message, pgoutput.Relation):
                        relations[message.oid] = message
                        if (message.schema, message.name) == (table.schema, table.name):
                            wanted.add(message.oid)
                            decoded.relation(message, loaders)
                    elif message is not None and begin is not None:
                        if begin.final_lsn < since_lsn:
                            continue
                        change = decoded.change(message, wanted)
                        if change is not None:
                            changes.append(change)
                            size += len(data)
                cursor.close()
        except psycopg.Error as exc:
            raise translate(exc, self._what()) from None

    def fetch_rows(
        self, table: TableRef, key: Sequence[str], keys: Sequence[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        columns = list(self.columns(table).values())
        items = [
            sql.SQL("{}::text").format(sql.Identifier(c.name))
            if pa.types.is_string(c.arrow_type)
            else sql.Identifier(c.name)
            for c in columns
        ]
        match = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(k)) for k in key)
        statement = sql.SQL("SELECT {} FROM {} WHERE {}").format(
            sql.SQL(", ").join(items), qualified(table.schema, table.name), match
        )
        found: dict[tuple[Any, ...], dict[str, Any]] = {}
        conn = self._session()
        for values in keys:
            row = conn.execute(statement, values).fetchone()
            if row is not None:
                found[tuple(values)] = {c.name: v for c, v in zip(columns, row, strict=True)}
        return found

    # -- position -----------------------------------------------------------------------------

    def before(self, a: str, b: str) -> bool:
        return pgoutput.lsn_int(a) < pgoutput.lsn_int(b)

    def confirm(self, position: str) -> None:
        conn = self._session()
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.slot,))
                row = self._slot_row()
                if row is not None and pgoutput.lsn_int(row[0]) < pgoutput.lsn_int(position):
                    conn.execute(
                        "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (self.slot, position)
                    )
        except psycopg.Error as exc:
            raise translate(exc, self._what()) from None

    def lag(self, position: str, committed_at: datetime | None) -> Lag:
        conn = self._session()
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint", (position,)
        ).fetchone()
        behind = max(int(row[0]), 0) if row is not None else None
        slot = self._slot_row()
        retained = int(slot[1]) if slot is not None and slot[1] is not None else None
        seconds: float | None = 0.0
        if committed_at is not None:
            seconds = max((datetime.now(UTC) - committed_at).total_seconds(), 0.0)
        return Lag(seconds, behind, retained)

    def drop(self) -> None:
        conn = self._session()
        try:
            if self._slot_row() is not None:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (self.slot,))
            conn.execute(
                sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(self.publication))
            )
        except psycopg.Error as exc:
            raise translate(exc, self._what()) from None


class _Loaders:
    """psycopg's text loaders by type OID: the same Python values a query would return."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.transformer = Transformer(conn)

    def for_oid(self, oid: int) -> Callable[[bytes], Any]:
        loader = self.transformer.get_loader(oid, Format.TEXT)
        return loader.load


class _Decoded:
    """Turns pgoutput rows of the wanted relation into :class:`Change` values."""

    def __init__(self, table: TableRef, reader: PostgresChangeReader, carrier: CarrierFor) -> None:
        self.table, self.reader, self.carrier = table, reader, carrier
        self.names: dict[int, tuple[str, ...]] = {}
        self.keep: dict[int, list[int]] = {}
        self.converters: dict[int, list[Callable[[bytes], Any]]] = {}
        self.key_positions: dict[int, list[int]] = {}

    def relation(self, relation: pgoutput.Relation, loaders: _Loaders) -> None:
        if any(
            self.carrier(c.name) is None
            for c in relation.columns
            if c.name not in self.reader.columns(self.table)
        ):
            self.reader.columns(self.table, refresh=True)  # a column added mid-stream
        keep, names, converters = [], [], []
        for index, column in enumerate(relation.columns):
            carrier = self.carrier(column.name)
            if carrier is None:
                continue  # dropped since: not in the table any more
            keep.append(index)
            names.append(column.name)
            converters.append(_converter(carrier, loaders.for_oid(column.type_oid)))
        self.names[relation.oid] = tuple(names)
        self.keep[relation.oid] = keep
        self.converters[relation.oid] = converters
        key = [c.name for c in self.reader.columns(self.table).values() if c.primary_key]
        self.key_positions[relation.oid] = [names.index(k) for k in key if k in names]

    def _values(self, oid: int, raw: pgoutput.Values) -> tuple[tuple[Any, ...], frozenset[str]]:
        values: list[Any] = []
        missing: set[str] = set()
        names = self.names[oid]
        for position, (index, convert) in enumerate(
            zip(self.keep[oid], self.converters[oid], strict=True)
        ):
            value = raw[index] if index < len(raw) else None
            if value is pgoutput.UNCHANGED:
                missing.add(names[position])
                values.append(None)
            elif value is None:
                values.append(None)
            else:
                assert isinstance(value, bytes)
                values.append(convert(value))
        return tuple(values), frozenset(missing)

    def change(self, message: pgoutput.Message, wanted: set[int]) -> Change | None:
        if isinstance(message, pgoutput.Truncate):
            return Change("truncate") if wanted.intersection(message.relations) else None
        if isinstance(message, pgoutput.Insert) and message.relation in wanted:
            values, missing = self._values(message.relation, message.new)
            return Change("insert", self.names[message.relation], values, missing=missing)
        if isinstance(message, pgoutput.Update) and message.relation in wanted:
            oid = message.relation
            values, missing = self._values(oid, message.new)
            old_key = None
            if message.old is not None:
                old, _ = self._values(oid, message.old)
                keys = self.key_positions[oid]
                old_key = tuple(old[i] for i in keys)
                if old_key == tuple(values[i] for i in keys):
                    old_key = None
                if missing and message.old_kind == "O":  # REPLICA IDENTITY FULL: old values
                    names = self.names[oid]
                    values = tuple(
                        old[i] if names[i] in missing else v for i, v in enumerate(values)
                    )
                    missing = frozenset()
            return Change("update", self.names[oid], values, old_key=old_key, missing=missing)
        if isinstance(message, pgoutput.Delete) and message.relation in wanted:
            values, _ = self._values(message.relation, message.old)
            return Change("delete", self.names[message.relation], values)
        return None


def _converter(carrier: Column, load: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """Text form to the carrier's Python value: the text itself for text carriers (the same
    ``::text`` the snapshot read uses), else psycopg's loader for the column's type."""
    if pa.types.is_string(carrier.arrow_type) or pa.types.is_large_string(carrier.arrow_type):
        return lambda raw: raw.decode()
    return load
