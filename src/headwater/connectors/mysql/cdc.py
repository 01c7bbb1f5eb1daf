"""MySQL/MariaDB change capture from the row binlog (``mysql-replication``).

The position is a binlog ``file:position`` at a transaction boundary (after its ``XID``
event, or after a DDL statement), followed on MariaDB by ``#`` and the GTID position there
(``binlog.000003:1234#0-1-57``: one ``domain-server-sequence`` per replication domain). The
server must log rows in full with their column names: ``log_bin``, ``binlog_format=ROW``,
``binlog_row_image=FULL`` and ``binlog_row_metadata=FULL`` (without the last, the library
names columns ``UNKNOWN_COL0``).

**Initial snapshot.** On MariaDB it is a consistent snapshot aligned with the binlog:
``START TRANSACTION WITH CONSISTENT SNAPSHOT`` then ``SHOW STATUS LIKE 'binlog_snapshot_%'``
gives the binlog file and position the snapshot is exactly at (no global lock), and every
chunk of the snapshot is read through that same transaction (``mysql.held``): the snapshot
holds every transaction before the position and none after, so no change is applied twice
(which matters for change logs and history, where a replayed change is a duplicate row).
MySQL has no such status: there the position is taken just before the table is read and the
snapshot is aligned by replay (changes committed while it is read are applied again over rows
that already hold them; idempotent for upserts and deletes by key). See docs/cdc.md.

**Resume.** From the file and position while the file exists; when it was purged (or the
server failed over to one without it), from the recorded GTID position, which MariaDB maps to
wherever those transactions are in its own binlog. Without a GTID the river fails with an
error that says to take a new snapshot.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from headwater.connectors.base import Column, TableRef
from headwater.connectors.changes import Change, ChangeReader, ChangeTransaction, Lag
from headwater.connectors.errors import ConfigurationError
from headwater.connectors.mysql import held
from headwater.connectors.mysql.conn import connect, translate
from headwater.connectors.outbound import one_address

CarrierFor = Callable[[str], Column | None]

_REQUIRED = {
    "log_bin": ("1", "ON"),
    "binlog_format": ("ROW",),
    "binlog_row_image": ("FULL",),
    "binlog_row_metadata": ("FULL",),
}


def _split(position: str) -> tuple[str, int]:
    name, _, offset = position.partition("#")[0].rpartition(":")
    return name, int(offset)


def _gtid(position: str) -> str:
    """The GTID part of a position ('' when none was recorded)."""
    return position.partition("#")[2]


def _domains(gtid: str) -> dict[str, str]:
    """``0-1-57,1-2-3`` by replication domain."""
    return {part.split("-", 1)[0]: part for part in gtid.split(",") if part.count("-") == 2}


def _joined(domains: dict[str, str]) -> str:
    return ",".join(domains[d] for d in sorted(domains, key=int))


def _at(log_file: str, log_pos: int, gtid: str) -> str:
    return f"{log_file}:{log_pos}#{gtid}" if gtid else f"{log_file}:{log_pos}"


class MySQLChangeReader(ChangeReader):
    def __init__(
        self, props: dict[str, Any], name: str, describe: Callable[[TableRef], Sequence[Column]]
    ) -> None:
        self.props = props
        self.name = name
        self._describe = describe
        self._columns: dict[TableRef, dict[str, Column]] = {}

    def _what(self) -> str:
        return f"MySQL {self.props['host']}/{self.props['database']} binlog"

    def _query(self, statement: str) -> list[tuple[Any, ...]]:
        conn = connect(self.props)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
                return list(cursor.fetchall())
        except Exception as exc:
            raise translate(exc, self._what()) from None
        finally:
            conn.close()

    def prepare(self, table: TableRef) -> None:
        names = ", ".join(f"@@{name}" for name in _REQUIRED)
        values = self._query(f"SELECT {names}")[0]
        wrong = [
            f"{name} = {value} (needs {allowed[-1]})"
            for (name, allowed), value in zip(_REQUIRED.items(), values, strict=True)
            if str(value).upper() not in allowed
        ]
        if wrong:
            raise ConfigurationError(
                f"{self._what()}: change capture needs the row binlog: " + "; ".join(wrong)
            )

    def _end(self) -> str:
        rows = self._query("SHOW MASTER STATUS")
        if not rows:
            raise ConfigurationError(f"{self._what()}: the binlog is off (SHOW MASTER STATUS)")
        return f"{rows[0][0]}:{rows[0][1]}"

    def _gtid_at(self, log_file: str, log_pos: int) -> str:
        """MariaDB's GTID position at a binlog position ('' on MySQL or when unknown)."""
        try:
            conn = connect(self.props)
        except Exception:
            return ""
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT BINLOG_GTID_POS(%s, %s)", (log_file, log_pos))
                row = cursor.fetchone()
            return str(row[0]) if row and row[0] is not None else ""
        except Exception:  # MySQL has no BINLOG_GTID_POS: file and position only
            return ""
        finally:
            conn.close()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[tuple[str | None, str]]:
        """MariaDB: a consistent snapshot transaction held for the snapshot's reads, at the
        binlog position it shows; MySQL: the current position (aligned by replay)."""
        conn = connect(self.props, streaming=True)
        token = None
        try:
            try:
                with conn.cursor() as cursor:
                    cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                    cursor.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
                    status = {str(name): value for name, value in cursor.fetchall()}
            except Exception as exc:
                raise translate(exc, self._what()) from None
            log_file = status.get("Binlog_snapshot_file")
            if not log_file:  # MySQL
                conn.close()
                yield None, self._end()
                return
            log_pos = int(status["Binlog_snapshot_position"])
            token = held.hold(conn)
            yield token, _at(str(log_file), log_pos, self._gtid_at(str(log_file), log_pos))
        finally:
            if token is not None:
                held.release(token)
            with contextlib.suppress(Exception):
                conn.rollback()
            with contextlib.suppress(Exception):
                conn.close()

    def columns(self, table: TableRef, refresh: bool = False) -> dict[str, Column]:
        if refresh or table not in self._columns:
            self._columns[table] = {c.name: c for c in self._describe(table)}
        return self._columns[table]

    def _logs(self) -> list[tuple[str, int]]:
        return [(str(row[0]), int(row[1])) for row in self._query("SHOW BINARY LOGS")]

    def read(
        self, table: TableRef, since: str, max_changes: int, carrier: CarrierFor | None = None
    ) -> Iterator[ChangeTransaction]:
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.event import MariadbGtidEvent, QueryEvent, RotateEvent, XidEvent
        from pymysqlreplication.row_event import (
            DeleteRowsEvent,
            UpdateRowsEvent,
            WriteRowsEvent,
        )

        log_file, log_pos = _split(since)
        gtid = _gtid(since)
        by_gtid = log_file not in {name for name, _ in self._logs()}
        if by_gtid and not gtid:
            raise ConfigurationError(
                f"{self._what()}: binlog {log_file} that the river resumes from was purged; "
                "reset the river's state to take a new snapshot"
            )
        if not by_gtid and not gtid:
            gtid = self._gtid_at(log_file, log_pos)  # a state written before GTIDs were kept
        domains = _domains(gtid)
        where: dict[str, Any] = (
            {"is_mariadb": True, "auto_position": gtid}
            if by_gtid
            else {
                "is_mariadb": False,  # file:position dump (MariaDB still sends its GTIDs)
                "resume_stream": True,
                "log_file": log_file,
                "log_pos": log_pos,
            }
        )
        carrier = carrier or (lambda name: self.columns(table).get(name))
        decode = _Values(carrier)
        key = [c.name for c in self.columns(table).values() if c.primary_key]
        stream = BinLogStreamReader(
            connection_settings={
                "host": one_address(str(self.props["host"])),
                "port": int(self.props.get("port") or 3306),
                "user": self.props["username"],
                "password": self.props.get("password") or "",
            },
            server_id=random.randint(100_000, 4_000_000_000),
            blocking=False,
            only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent,
                         RotateEvent, MariadbGtidEvent],
            only_schemas=[table.schema],
            pymysql_wrapper=_pymysql_connect,
            **where,
        )  # fmt: skip
        changes: list[Change] = []
        count = 0
        try:
            for event in stream:
                if isinstance(event, MariadbGtidEvent):
                    domains[str(event.domain_id)] = event.gtid  # this transaction's GTID
                    continue
                if isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
                    if event.table != table.name:
                        continue
                    changes.extend(decode.rows(event, key))
                elif isinstance(event, XidEvent) or (
                    isinstance(event, QueryEvent) and _is_boundary(event.query)
                ):
                    if isinstance(event, QueryEvent):
                        self.columns(table, refresh=True)  # a DDL statement: new columns
                        decode.forget()
                    log_position = f"{stream.log_file}:{stream.log_pos}"
                    position = _at(stream.log_file, stream.log_pos, _joined(domains))
                    at = datetime.fromtimestamp(event.timestamp, UTC)
                    yield ChangeTransaction(position, log_position, at, changes)
                    count += len(changes)
                    changes = []
                    if count >= max_changes:
                        break
        except ConfigurationError:
            raise
        except Exception as exc:
            raise translate(exc, self._what()) from None
        finally:
            stream.close()

    def before(self, a: str, b: str) -> bool:
        return _split(a) < _split(b)

    def confirm(self, position: str) -> None:
        """Nothing to release: the server expires binlogs by age, not by reader."""

    def lag(self, position: str, committed_at: datetime | None) -> Lag:
        log_file, log_pos = _split(position)
        behind = 0
        for name, size in self._logs():
            if name > log_file:
                behind += size
            elif name == log_file:
                behind += max(size - log_pos, 0)
        seconds = (
            None if committed_at is None else (datetime.now(UTC) - committed_at).total_seconds()
        )
        return Lag(seconds, behind, None)

    def drop(self) -> None:
        """Nothing was created at the source."""

    def log_position(self, position: str) -> str:
        """``file:position`` without the GTID part, as change rows show it."""
        return position.partition("#")[0]

    def fetch_rows(
        self, table: TableRef, key: Sequence[str], keys: Sequence[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], dict[str, Any]]:
        return {}


def _pymysql_connect(**settings: Any) -> Any:
    """PyMySQL under the names it takes now (the library still passes ``db``)."""
    import pymysql

    if "db" in settings:
        settings["database"] = settings.pop("db")
    return pymysql.connect(**settings)


def _is_boundary(query: str) -> bool:
    """A statement logged as a query event that ends a transaction (DDL, COMMIT)."""
    word = query.strip().split(None, 1)[0].upper() if query.strip() else ""
    return word not in ("BEGIN", "XA", "SAVEPOINT")


class _Values:
    """Binlog row values to the Arrow carriers' Python values."""

    def __init__(self, carrier: CarrierFor) -> None:
        self.carrier = carrier

    def forget(self) -> None:
        """Nothing cached per table version yet; kept for symmetry with DDL handling."""

    def _row(self, values: dict[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        names, out = [], []
        for name, value in values.items():
            column = self.carrier(name)
            if column is None:
                continue
            names.append(name)
            out.append(_convert(value, column))
        return tuple(names), tuple(out)

    def rows(self, event: Any, key: list[str]) -> list[Change]:
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent

        changes = []
        for row in event.rows:
            if isinstance(event, UpdateRowsEvent):
                names, values = self._row(row["after_values"])
                _, before = self._row(row["before_values"])
                new_key = tuple(values[names.index(k)] for k in key if k in names)
                old_key = tuple(before[names.index(k)] for k in key if k in names)
                changes.append(
                    Change("update", names, values, old_key=old_key if old_key != new_key else None)
                )
            else:
                names, values = self._row(row["values"])
                if isinstance(event, DeleteRowsEvent):
                    changes.append(Change("delete", names, values))
                else:
                    changes.append(Change("insert", names, values))
        return changes


def _convert(value: Any, column: Column) -> Any:
    arrow_type = column.arrow_type
    if value is None:
        return None
    if pa.types.is_string(arrow_type):
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, dict | list):
            return json.dumps(value, separators=(", ", ": "))
        if isinstance(value, Decimal):
            return format(value, "f")
        return str(value)
    if pa.types.is_timestamp(arrow_type) and isinstance(value, datetime):
        if arrow_type.tz and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
    if pa.types.is_date(arrow_type) and isinstance(value, datetime):
        return value.date()
    if pa.types.is_duration(arrow_type) and isinstance(value, timedelta):
        return value
    if pa.types.is_boolean(arrow_type):
        return bool(value)
    if isinstance(value, date | Decimal | int | float | bytes):
        return value
    return value
