"""MySQL/MariaDB change capture from the row binlog (``mysql-replication``).

The position is a binlog ``file:position`` at a transaction boundary (after its ``XID``
event, or after a DDL statement). The server must log rows in full with their column
names: ``log_bin``, ``binlog_format=ROW``, ``binlog_row_image=FULL`` and
``binlog_row_metadata=FULL`` (without the last, the library names columns ``UNKNOWN_COL0``).

The initial snapshot is aligned by replay: the position is taken before the table is read,
so changes committed while it is read are applied again over rows that already hold them;
applying a change is idempotent (upsert or delete by key), so the target equals the source
once the stream has passed the end of the read. The binlog is kept by the server for its
``binlog_expire_logs_seconds``; a river whose position was purged fails with an error that
says to take a new snapshot.
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
    name, _, offset = position.rpartition(":")
    return name, int(offset)


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

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[tuple[str | None, str]]:
        yield None, self._end()

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
        from pymysqlreplication.event import QueryEvent, RotateEvent, XidEvent
        from pymysqlreplication.row_event import (
            DeleteRowsEvent,
            UpdateRowsEvent,
            WriteRowsEvent,
        )

        log_file, log_pos = _split(since)
        if log_file not in {name for name, _ in self._logs()}:
            raise ConfigurationError(
                f"{self._what()}: binlog {log_file} that the river resumes from was purged; "
                "reset the river's state to take a new snapshot"
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
            resume_stream=True,
            log_file=log_file,
            log_pos=log_pos,
            blocking=False,
            only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent,
                         RotateEvent],
            only_schemas=[table.schema],
            is_mariadb=False,  # file:position dump, which MariaDB serves too
            pymysql_wrapper=_pymysql_connect,
        )  # fmt: skip
        changes: list[Change] = []
        count = 0
        try:
            for event in stream:
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
                    position = f"{stream.log_file}:{stream.log_pos}"
                    at = datetime.fromtimestamp(event.timestamp, UTC)
                    yield ChangeTransaction(position, position, at, changes)
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
