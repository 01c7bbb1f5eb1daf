"""PostgreSQL connections, identifier quoting and translation of driver errors.

Every statement is composed with :mod:`psycopg.sql` (identifiers quoted, values as bound
parameters or driver-quoted literals), and every psycopg error is turned into a classified
ConnectorError whose message names the object involved. Statements that splice identifiers
*and* bind values go through :func:`run_bound`, never through ``%s`` placeholders.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import errors as pge
from psycopg import pq, sql

from headwater.connectors.errors import (
    AuthenticationFailed,
    Cancelled,
    ConnectionFailed,
    ConnectorError,
    LoadFailed,
    ObjectNotFound,
    TransientLoadFailed,
    ValueRejected,
)
from headwater.connectors.outbound import checked_addresses
from headwater.connectors.reuse import current_shelf

log = logging.getLogger(__name__)

APPLICATION_NAME = "headwater"
#: Session settings of every connection, psycopg and ADBC alike: the text forms of values
#: (timestamps, intervals, floats, bytea inside ranges, arrays and composites) do not depend
#: on the server's or the role's defaults.
#: ``standard_conforming_strings``: '...' never takes backslash escapes, whatever the server or
#: database default, so quoted variable values (``runner.sql_render``) read back as written.
SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 "
    "-c bytea_output=hex -c standard_conforming_strings=on"
)


def _hosts(props: Mapping[str, Any]) -> dict[str, str]:
    """libpq ``host`` (and, in production mode, ``hostaddr``): the connection goes to the
    addresses the outbound policy checked, while TLS still verifies the host name."""
    host = str(props["host"])
    addresses = checked_addresses(host)
    if addresses is None:
        return {"host": host}
    return {"host": ",".join([host] * len(addresses)), "hostaddr": ",".join(addresses)}


def connect(
    props: Mapping[str, Any], *, autocommit: bool = False, replication: str | None = None
) -> psycopg.Connection[Any]:
    """Open a psycopg connection with UTC/ISO session settings; errors are classified.

    ``replication="database"`` opens a logical replication connection (change capture's
    snapshot slots)."""
    hosts = _hosts(props)
    try:
        conn = psycopg.connect(
            host=hosts["host"],
            hostaddr=hosts.get("hostaddr"),  # None is left out
            port=int(props.get("port") or 5432),
            dbname=props["database"],
            user=props["username"],
            password=props.get("password") or None,
            sslmode=props.get("sslmode") or "prefer",
            application_name=APPLICATION_NAME,
            connect_timeout=10,
            autocommit=autocommit,
            options=SESSION_OPTIONS,
            replication=replication,  # None is left out
        )
    except psycopg.Error as exc:
        raise translate(exc, f"PostgreSQL {props.get('host')}/{props.get('database')}") from None
    return conn


def props_key(props: Mapping[str, Any]) -> str:
    """The connection's properties as one hashable value (shelf keys; never logged)."""
    return json.dumps(dict(props), sort_keys=True, default=str)


def _shelf_key(props: Mapping[str, Any], autocommit: bool) -> Hashable:
    return ("postgres", autocommit, props_key(props))


def lend(props: Mapping[str, Any], *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """An idle connection of the run group's shelf (``connectors.reuse``), else a new one."""
    shelf = current_shelf()
    if shelf is not None:
        conn = shelf.take(_shelf_key(props, autocommit))
        if conn is not None and not conn.closed and not conn.broken:
            return conn  # type: ignore[no-any-return]
    return connect(props, autocommit=autocommit)


def give_back(props: Mapping[str, Any], conn: psycopg.Connection[Any]) -> None:
    """Shelve a connection that is idle and healthy for the group's next table; else close it."""
    shelf = current_shelf()
    idle = (
        not conn.closed
        and not conn.broken
        and conn.info.transaction_status == pq.TransactionStatus.IDLE
    )
    if shelf is None or not idle:
        conn.close()
        return
    shelf.give(_shelf_key(props, conn.autocommit), conn)


@contextlib.contextmanager
def borrowed(props: Mapping[str, Any]) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for catalogue statements, lent and given back (see ``lend``)."""
    conn = lend(props, autocommit=True)
    try:
        yield conn
    except BaseException:
        conn.close()
        raise
    give_back(props, conn)


def adbc_uri(props: Mapping[str, Any]) -> str:
    """A libpq URI for ADBC; the password is percent-encoded and never logged."""
    user = quote(str(props["username"]), safe="")
    password = props.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    hosts = _hosts(props)
    port = int(props.get("port") or 5432)
    netloc = (
        ",".join(
            f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            for host in hosts["host"].split(",")
        )
        if "hostaddr" in hosts
        else f"{hosts['host']}:{port}"
    )
    pinned = f"&hostaddr={hosts['hostaddr']}" if "hostaddr" in hosts else ""
    database = quote(str(props["database"]), safe="")
    sslmode = props.get("sslmode") or "prefer"
    return (
        f"postgresql://{auth}@{netloc}/{database}?sslmode={sslmode}"
        f"&application_name={APPLICATION_NAME}&connect_timeout=10{pinned}"
        f"&options={quote(SESSION_OPTIONS, safe='')}"
    )


def qualified(schema: str | None, name: str) -> sql.Composable:
    if schema:
        return sql.Identifier(schema, name)
    return sql.Identifier(name)


def run_bound(
    conn: psycopg.Connection[Any], statement: sql.Composed, params: Sequence[Any]
) -> list[Any]:
    """Run ``statement`` with ``params`` bound server-side as ``$1, $2, ...``; return its rows.

    psycopg finds ``%s`` placeholders by scanning the whole statement text, quoted identifiers
    included: a table or column named ``a%sb`` would be taken for a placeholder, and ``a%%b``
    would silently become ``a%b``. A raw cursor sends the text as it is and lets the server's
    parser tell identifiers from parameters.
    """
    with psycopg.RawCursor(conn) as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description is not None else []


def translate(exc: BaseException, what: str) -> ConnectorError:
    """Turn a driver exception into a classified ConnectorError naming ``what``."""
    if isinstance(exc, ConnectorError):
        return exc
    message = _clean_message(exc)
    if isinstance(exc, pge.QueryCanceled):
        return Cancelled(f"{what}: statement cancelled ({message})")
    if isinstance(exc, pge.InvalidPassword | pge.InvalidAuthorizationSpecification):
        return AuthenticationFailed(f"{what}: authentication failed ({message})")
    if isinstance(exc, pge.UndefinedTable | pge.InvalidSchemaName | pge.UndefinedColumn):
        return ObjectNotFound(f"{what}: {message}")
    if isinstance(exc, pge.InvalidCatalogName):
        return ObjectNotFound(f"{what}: {message}")
    if isinstance(exc, pge.DataError | pge.IntegrityConstraintViolation):
        return ValueRejected(f"{what}: value rejected: {message}")
    if isinstance(exc, pge.SerializationFailure | pge.DeadlockDetected | pge.LockNotAvailable):
        return TransientLoadFailed(f"{what}: {message}")
    if isinstance(exc, psycopg.OperationalError):
        lowered = message.lower()
        if (
            "password authentication failed" in lowered
            or "no password supplied" in lowered
            or ("role" in lowered and "does not exist" in lowered)
        ):
            return AuthenticationFailed(f"{what}: authentication failed ({message})")
        if "does not exist" in lowered:
            return ObjectNotFound(f"{what}: {message}")
        return ConnectionFailed(f"{what}: cannot connect or connection lost ({message})")
    return LoadFailed(f"{what}: {message}")


def translate_adbc(exc: BaseException, what: str) -> ConnectorError:
    """ADBC errors carry the SQLSTATE; map the common classes like :func:`translate`."""
    if isinstance(exc, ConnectorError):
        return exc
    message = _clean_message(exc)
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    if sqlstate == "57014" or "canceling statement" in message:
        return Cancelled(f"{what}: statement cancelled ({message})")
    if sqlstate.startswith("28") or "password authentication failed" in message:
        return AuthenticationFailed(f"{what}: authentication failed ({message})")
    if sqlstate in ("42P01", "3F000", "42703", "3D000") or "does not exist" in message:
        return ObjectNotFound(f"{what}: {message}")
    if sqlstate.startswith("22"):
        return ValueRejected(f"{what}: value rejected: {message}")
    if sqlstate.startswith("08") or "connection" in message.lower():
        # Same words as ``translate``: the Arrow path must not read differently from COPY.
        return ConnectionFailed(f"{what}: cannot connect or connection lost ({message})")
    return LoadFailed(f"{what}: {message}")


def _clean_message(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.split()) or type(exc).__name__


def cancel_backends(props: Mapping[str, Any], pids: list[int]) -> None:
    """``pg_cancel_backend`` for each pid, from a short-lived separate connection."""
    if not pids:
        return
    try:
        with connect(props, autocommit=True) as conn:
            for pid in pids:
                conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
                log.info("Cancelled PostgreSQL backend %s", pid)
    except ConnectorError as exc:
        log.warning("Could not cancel PostgreSQL backends %s: %s", pids, exc)
