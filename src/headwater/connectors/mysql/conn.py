"""MySQL/MariaDB connections (PyMySQL, ConnectorX URLs) and error translation.

Sessions run in UTC (so ``TIMESTAMP`` values are read and written as UTC instants) and in strict
SQL mode (so a value the column cannot hold is an error, not a silent truncation).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import pymysql
import pymysql.converters

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
from headwater.connectors.outbound import one_address

SESSION_SETUP = (
    "SET time_zone = '+00:00'",
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
    "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
)

_AUTH = {1045, 1044, 1698, 1251}
_NOT_FOUND = {1049, 1146, 1054, 1051, 1109}
_VALUE = {1264, 1265, 1366, 1406, 1292, 1367, 1690, 3140, 4025, 1048, 1062, 1416}
_CANCELLED = {1317, 1927, 3024}
_TRANSIENT = {1205, 1213, 2006, 2013}


def connect(
    props: Mapping[str, Any], *, database: str | None = None, streaming: bool = False
) -> pymysql.connections.Connection[Any]:
    try:
        conn = pymysql.connect(
            host=one_address(str(props["host"])),
            port=int(props.get("port") or 3306),
            user=props["username"],
            password=props.get("password") or "",
            database=database if database is not None else props["database"],
            charset="utf8mb4",
            autocommit=False,
            local_infile=False,  # LOAD DATA LOCAL INFILE must not read this host's files
            connect_timeout=10,
            cursorclass=pymysql.cursors.SSCursor if streaming else pymysql.cursors.Cursor,
        )
    except pymysql.Error as exc:
        raise translate(exc, f"MySQL {props.get('host')}/{props.get('database')}") from None
    with conn.cursor() as cursor:
        for statement in SESSION_SETUP:
            cursor.execute(statement)
    return conn


def check_reachable(props: Mapping[str, Any]) -> None:
    """Connect and run ``SELECT 1``: the connection test of the source and the target."""
    conn = connect(props)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        conn.close()


def connectorx_url(props: Mapping[str, Any]) -> str:
    user = quote(str(props["username"]), safe="")
    password = props.get("password")
    auth = f"{user}:{quote(str(password), safe='')}" if password else user
    port = int(props.get("port") or 3306)
    host = one_address(str(props["host"]))
    host = f"[{host}]" if ":" in host else host
    return f"mysql://{auth}@{host}:{port}/{quote(str(props['database']), safe='')}"


def pyformat(text: str) -> str:
    """SQL text holding quoted identifiers or type names, made safe for PyMySQL's ``%s``
    interpolation: every ``%`` is doubled, so a column named ``a%sb`` is not taken for a
    placeholder (nor ``a%%b`` turned into ``a%b``). Use it on every statement run with
    parameters, before appending the placeholders."""
    return text.replace("%", "%%")


def check_identifier(name: str, what: str) -> None:
    """Refuse, naming it, an identifier MySQL/MariaDB cannot hold.

    Identifiers are limited to the Basic Multilingual Plane (an emoji is a collation error deep
    inside a catalogue query otherwise) and cannot end with a space.
    """
    if any(ord(ch) > 0xFFFF for ch in name):
        raise ConfigurationError(
            f"{what}: MySQL/MariaDB identifiers cannot contain characters beyond U+FFFF "
            f"(such as emoji): {name!r}"
        )
    if name.endswith(" "):
        raise ConfigurationError(
            f"{what}: MySQL/MariaDB identifiers cannot end with a space: {name!r}"
        )


def literal(value: Any) -> str:
    """A value as a MySQL literal, for SQL text sent through ConnectorX (no bind support)."""
    return str(pymysql.converters.escape_item(value, "utf8mb4"))


def translate(exc: BaseException, what: str) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    message = str(exc.args[1]) if code is not None and len(exc.args) > 1 else str(exc)
    message = " ".join(message.split())
    if code is None:
        match = re.search(r"\b(1\d{3}|2\d{3}|3\d{3}|4\d{3})\b", message)
        code = int(match.group(1)) if match else None
    if code in _AUTH or "access denied" in message.lower():
        return AuthenticationFailed(f"{what}: authentication failed ({message})")
    if code in _NOT_FOUND or "doesn't exist" in message or "unknown database" in message.lower():
        return ObjectNotFound(f"{what}: {message}")
    if code in _CANCELLED or "interrupted" in message.lower():
        return Cancelled(f"{what}: query interrupted ({message})")
    if code in _VALUE or isinstance(exc, pymysql.err.DataError):
        return ValueRejected(f"{what}: value rejected: {message}")
    if code in _TRANSIENT:
        return TransientLoadFailed(f"{what}: {message}")
    if code in (2003, 2005) or "can't connect" in message.lower():
        return ConnectionFailed(f"{what}: cannot connect ({message})")
    if isinstance(exc, pymysql.err.ProgrammingError):
        return ConfigurationError(f"{what}: {message}")
    return LoadFailed(f"{what}: {message}")


def kill_queries(props: Mapping[str, Any], *, thread_ids: list[int], tag: str | None) -> None:
    """``KILL QUERY`` for the given connection ids and for queries carrying ``tag``."""
    conn = connect(props)
    try:
        with conn.cursor() as cursor:
            ids = set(thread_ids)
            if tag:
                cursor.execute(
                    "SELECT ID FROM information_schema.PROCESSLIST "
                    "WHERE INFO LIKE %s AND ID <> CONNECTION_ID()",
                    (f"%{tag}%",),
                )
                ids.update(int(row[0]) for row in cursor.fetchall())
            for thread_id in sorted(ids):
                with contextlib.suppress(pymysql.Error):  # it may have finished meanwhile
                    cursor.execute(f"KILL QUERY {int(thread_id)}")
    finally:
        conn.close()
