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

log = logging.getLogger(__name__)


def connect(path: str, *, must_exist: bool) -> duckdb.DuckDBPyConnection:
    if must_exist and not Path(path).exists():
        raise ObjectNotFound(f"DuckDB database file {path} does not exist")
    try:
        conn = duckdb.connect(path)
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
