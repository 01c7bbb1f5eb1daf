"""DuckDB connections and error translation.

DuckDB allows one read-write process per database file; inside a process, every connection to
the same file shares one database instance, so a source and a target on the same file work.
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
from headwater.security.ssrf import current_policy

log = logging.getLogger(__name__)


def connect(path: str, *, must_exist: bool) -> duckdb.DuckDBPyConnection:
    if must_exist and not Path(path).exists():
        raise ObjectNotFound(f"DuckDB database file {path} does not exist")
    try:
        conn = duckdb.connect(path)
        conn.execute("SET TimeZone = 'UTC'")
        restrict_external_access(conn)
    except duckdb.Error as exc:
        raise translate(exc, f"DuckDB {path}") from None
    return conn


def restrict_external_access(conn: duckdb.DuckDBPyConnection) -> None:
    """In production mode, DuckDB may not reach out: SQL that names a URL
    (``read_csv('http://169.254.169.254/...')``, which would auto-install httpfs) or installs
    an extension from a chosen repository (``INSTALL x FROM 'http://10.0.0.1/'``) would open
    connections the outbound policy never sees. ``enable_external_access = false`` refuses
    network and extension access (and files other than the database and its temp files, so
    server-local files cannot be read through SQL either); registered Arrow data still works,
    and SQL cannot turn it back on while the database is open."""
    if current_policy().enforce:
        conn.execute("SET enable_external_access = false")


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
