"""Snowflake connections (``snowflake-connector-python``), names, and error translation.

Outbound policy: the host (``host``, or ``<account>.snowflakecomputing.com``) is checked with
``connectors.outbound.checked_addresses`` right before every connection. Over ``http`` (local
test servers only) the driver is handed the checked address itself, as PostgreSQL and MySQL
are. Over ``https`` it keeps the name, because TLS verifies it: the driver resolves the name
again, so a DNS answer changed in between could make it open a TCP connection to another
address, but no request is sent there without a certificate valid for the checked name.

Names: with ``identifier_case = upper`` (the default) a name written entirely in lower-case
letters, digits, ``_`` and ``$`` (``order_id``) is created upper-case (``ORDER_ID``), as
Snowflake stores an unquoted name, so users can write ``select order_id from orders``;
such upper-case names are shown lower-case again when Snowflake is read. Any other name
(mixed case, spaces, unicode) is kept exactly. Every name is quoted in SQL either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from headwater.connectors.errors import (
    AuthenticationFailed,
    Cancelled,
    ConfigurationError,
    ConnectionFailed,
    ConnectorError,
    LoadFailed,
    ObjectNotFound,
    TransientLoadFailed,
    ValueRejected,
)
from headwater.connectors.outbound import checked_addresses
from headwater.connectors.sqltext import quote_ident

STATE_TABLE = "_HEADWATER_STATE"
_LOWER_SIMPLE = re.compile(r"^[a-z_][a-z0-9_$]*$")
_UPPER_SIMPLE = re.compile(r"^[A-Z_][A-Z0-9_$]*$")
_AUTH = {390100, 390144, 390101, 390102, 390186, 390189, 251005, 394304}
_NOT_FOUND = {2003, 2043, 2140, 904}
_VALUE = {100038, 100035, 100037, 100040, 100069, 100071, 100072, 2023, 100078}
_CANCELLED = {604, 630, 605}


def fold(name: str, props: Mapping[str, Any]) -> str:
    """The Snowflake name for a Headwater name (see the module docstring)."""
    if props.get("identifier_case", "upper") == "upper" and _LOWER_SIMPLE.match(name):
        return name.upper()
    return name


def unfold(name: str, props: Mapping[str, Any]) -> str:
    """The Headwater name for a Snowflake name: the reverse of :func:`fold`."""
    if props.get("identifier_case", "upper") == "upper" and _UPPER_SIMPLE.match(name):
        return name.lower()
    return name


def ident(name: str, props: Mapping[str, Any]) -> str:
    return quote_ident(fold(name, props))


def qualified(schema: str, name: str, props: Mapping[str, Any]) -> str:
    database = fold(str(props["database"]), props)
    return f"{quote_ident(database)}.{ident(schema, props)}.{ident(name, props)}"


def host_of(props: Mapping[str, Any]) -> str:
    return str(props.get("host") or f"{props['account']}.snowflakecomputing.com")


def _private_key(props: Mapping[str, Any]) -> bytes:
    """The PEM ``private_key`` as the DER bytes the driver takes."""
    from cryptography.hazmat.primitives import serialization

    passphrase = props.get("private_key_passphrase")
    try:
        key = serialization.load_pem_private_key(
            str(props["private_key"]).encode(),
            password=str(passphrase).encode() if passphrase else None,
        )
    except (ValueError, TypeError):  # the message is not shown: it may quote the key
        raise ConfigurationError(
            "The Snowflake private_key is not a PEM private key, or its passphrase is wrong"
        ) from None
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def connect_args(props: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``snowflake.connector.connect`` for ``props``."""
    auth: dict[str, Any]
    if props.get("private_key"):
        auth = {"private_key": _private_key(props), "authenticator": "SNOWFLAKE_JWT"}
    elif props.get("password"):
        auth = {"password": str(props["password"])}
    else:
        raise ConfigurationError("The Snowflake connection needs a password or a private_key")
    host = host_of(props)
    protocol = str(props.get("protocol") or "https")
    addresses = checked_addresses(host)
    if addresses and protocol == "http":
        host = addresses[0]
    args: dict[str, Any] = {
        **auth,
        "account": str(props["account"]),
        "user": str(props["user"]),
        "host": host,
        "port": int(props.get("port") or 443),
        "protocol": protocol,
        "database": fold(str(props["database"]), props),
        "schema": fold(str(props.get("schema") or "PUBLIC"), props),
        "login_timeout": 30,
        "network_timeout": 600,
        "client_session_keep_alive": False,
        "session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": "headwater"},
    }
    for name in ("role", "warehouse"):
        if props.get(name):
            args[name] = str(props[name])
    return args


def connect(props: Mapping[str, Any]) -> Any:
    """An autocommit connection; a load opens its transaction with ``BEGIN`` itself."""
    import snowflake.connector

    args = connect_args(props)
    try:
        return snowflake.connector.connect(**args, autocommit=True, paramstyle="qmark")
    except Exception as exc:
        raise translate(exc, f"Snowflake {props.get('account')}") from None


def run(conn: Any, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows (none for DDL and DML)."""
    cursor = conn.cursor()
    try:
        cursor.execute(statement, params)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
    finally:
        cursor.close()


def check_reachable(props: Mapping[str, Any]) -> None:
    conn = connect(props)
    try:
        run(conn, "SELECT 1")
    finally:
        conn.close()


def translate(exc: BaseException, what: str) -> ConnectorError:
    """A driver error as the connector error a run can act on."""
    if isinstance(exc, ConnectorError):
        return exc
    errno = getattr(exc, "errno", None)
    message = " ".join(str(getattr(exc, "msg", None) or exc).split())
    kind = type(exc).__name__
    if errno in _AUTH or "incorrect username or password" in message.lower():
        return AuthenticationFailed(f"{what}: authentication failed ({message})")
    if errno in _CANCELLED or ("cancel" in message.lower() and "query" in message.lower()):
        return Cancelled(f"{what}: query cancelled ({message})")
    if errno in _VALUE or kind == "DataError" or "conversion error" in message.lower():
        return ValueRejected(f"{what}: value rejected: {message}")
    if errno in _NOT_FOUND or "does not exist" in message:
        return ObjectNotFound(f"{what}: {message}")
    if kind in ("OperationalError", "InterfaceError") or errno in (250001, 250003):
        if errno in (250001, 250003) or "connect" in message.lower():
            return ConnectionFailed(f"{what}: cannot connect ({message})")
        return TransientLoadFailed(f"{what}: {message}")
    if kind == "ProgrammingError":
        return ConfigurationError(f"{what}: {message}")
    return LoadFailed(f"{what}: {message}")
