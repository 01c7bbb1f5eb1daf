"""DuckDB connections (sandboxed) and error translation.

DuckDB allows one read-write process per database file; inside a process, every connection to
the same file shares one database instance, so a source and a target on the same file work.

Every connection Headwater opens for a user's DuckDB connection (source, target, logic SQL
steps) is sandboxed: the database may open only its own file. ``enable_external_access=false``
stops file and network functions (``read_text``, ``read_csv``, ``COPY ... TO``, ``ATTACH``,
``glob``, http URLs, ``INSTALL``/``LOAD``) and extension auto-install/auto-load are off.
DuckDB itself refuses to turn external access back on while the database runs (``SET`` or
``RESET`` of it fails, and so does ``allow_unsigned_extensions``), so SQL cannot undo the
sandbox. ``lock_configuration`` is not used: it would also freeze ``memory_limit``, which the
target sets per load (see ``target``), and it adds nothing to the file and network sandbox.
Headwater's own data movement needs no external access: batches come in as registered Arrow
tables and leave as Arrow readers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb

from headwater.connectors.errors import (
    Cancelled,
    ConfigurationError,
    ConnectionFailed,
    ConnectorError,
    LoadFailed,
    ObjectNotFound,
    TransientLoadFailed,
    ValueRejected,
)
from headwater.connectors.localpath import checked_path

log = logging.getLogger(__name__)


#: Set when the database instance is created; the same for every connection to a file (DuckDB
#: refuses a second configuration for an instance that is open). With external access off, SQL
#: cannot read or write host files, name a URL (``read_csv('http://169.254.169.254/...')``) or
#: install an extension from a chosen repository, so nothing reaches the network behind the
#: outbound policy's back, in every mode; and SQL cannot turn it back on while the database is
#: open.
SANDBOX_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def connect(path: str, *, must_exist: bool) -> duckdb.DuckDBPyConnection:
    """A sandboxed connection to the database file ``path`` (checked against the local-path
    rule first: never a file of Headwater's data dir)."""
    path = checked_path(path, "DuckDB")
    if must_exist and not Path(path).exists():
        raise ObjectNotFound(f"DuckDB database file {path} does not exist")
    try:
        conn = duckdb.connect(path, config=SANDBOX_CONFIG)
        conn.execute("SET TimeZone = 'UTC'")
    except duckdb.Error as exc:
        raise translate(exc, f"DuckDB {path}") from None
    return conn


def translate(exc: BaseException, what: str) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    message = " ".join(str(exc).split())
    if isinstance(exc, duckdb.InterruptException):
        return Cancelled(f"{what}: interrupted ({message})")
    if isinstance(exc, duckdb.CatalogException):
        return ObjectNotFound(f"{what}: {message}")
    if isinstance(
        exc,
        duckdb.ConversionException
        | duckdb.ConstraintException
        | duckdb.OutOfRangeException
        | duckdb.InvalidInputException,
    ):
        return ValueRejected(f"{what}: value rejected: {message}")
    if isinstance(exc, duckdb.TransactionException):
        return TransientLoadFailed(f"{what}: {message}")
    if isinstance(exc, duckdb.IOException):
        return ConnectionFailed(f"{what}: {message}")
    if isinstance(exc, duckdb.ParserException | duckdb.BinderException):
        return ConfigurationError(f"{what}: {message}")
    return LoadFailed(f"{what}: {message}")


def fetch_rows(conn: duckdb.DuckDBPyConnection, query: str, params: Any = None) -> list[Any]:
    return conn.execute(query, params).fetchall()
