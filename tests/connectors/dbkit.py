"""Throwaway databases and checksums for connector and engine tests (real servers, no mocks)."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
from psycopg import sql

try:
    from tests._services import (
        MYSQL_HOST,
        MYSQL_PASSWORD,
        MYSQL_PORT,
        MYSQL_USER,
        PG_ADMIN_URL,
        require_service,
    )
except ImportError:  # tests/ itself is on sys.path
    from _services import (  # type: ignore[no-redef]
        MYSQL_HOST,
        MYSQL_PASSWORD,
        MYSQL_PORT,
        MYSQL_USER,
        PG_ADMIN_URL,
        require_service,
    )

__all__ = ["PG_ADMIN_URL", "require_service"]


def unique_name(prefix: str) -> str:
    return f"hw_test_{prefix}_{uuid.uuid4().hex[:10]}"


def pg_props(database: str) -> dict[str, Any]:
    info = psycopg.conninfo.conninfo_to_dict(PG_ADMIN_URL)
    return {
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port", 5432)),
        "database": database,
        "username": info.get("user", "postgres"),
        "password": info.get("password") or "",
    }


@contextlib.contextmanager
def pg_database(prefix: str) -> Iterator[dict[str, Any]]:
    """Create a PostgreSQL database for one test module and drop it afterwards."""
    require_service("postgres")
    name = unique_name(prefix)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield pg_props(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def pg_connect(props: dict[str, Any]) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=props["host"],
        port=props["port"],
        dbname=props["database"],
        user=props["username"],
        password=props["password"] or None,
        autocommit=True,
        options="-c TimeZone=UTC",
    )


def pg_exec(props: dict[str, Any], *statements: str) -> None:
    with pg_connect(props) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def pg_rows(props: dict[str, Any], query: str) -> list[tuple[Any, ...]]:
    with pg_connect(props) as conn:
        return conn.execute(query.encode()).fetchall()


def pg_checksum(props: dict[str, Any], table: str, columns: str = "*") -> str:
    """md5 over the text of every row, sorted: equal means identical contents (as a bag)."""
    query = (
        f"SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE \"C\"), '')) "
        f"FROM (SELECT {columns} FROM {table}) t"
    )
    return str(pg_rows(props, query)[0][0])


def mysql_props(database: str) -> dict[str, Any]:
    return {
        "host": MYSQL_HOST,
        "port": MYSQL_PORT,
        "database": database,
        "username": MYSQL_USER,
        "password": MYSQL_PASSWORD,
    }


def mysql_connect(database: str | None = None) -> pymysql.connections.Connection[Any]:
    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user=MYSQL_USER,
        password=MYSQL_PASSWORD,
        database=database,
        autocommit=True,
        charset="utf8mb4",
    )


@contextlib.contextmanager
def mysql_database(prefix: str) -> Iterator[dict[str, Any]]:
    """Create a MariaDB/MySQL database for one test module and drop it afterwards."""
    require_service("mysql")
    name = unique_name(prefix)
    with mysql_connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    try:
        yield mysql_props(name)
    finally:
        with mysql_connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def mysql_exec(props: dict[str, Any], *statements: str) -> None:
    with mysql_connect(props["database"]) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def mysql_rows(props: dict[str, Any], query: str) -> list[tuple[Any, ...]]:
    with mysql_connect(props["database"]) as conn, conn.cursor() as cur:
        cur.execute(query)
        return list(cur.fetchall())


def sqlite_rows(path: Path | str, query: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(query).fetchall()


def rows_digest(rows: list[tuple[Any, ...]]) -> str:
    """Order-independent digest of Python rows (repr of each row, sorted)."""
    text = "\n".join(sorted(repr(r) for r in rows))
    return hashlib.md5(text.encode()).hexdigest()
