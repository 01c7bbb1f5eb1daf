"""Session-wide private servers for the change capture tests (see ``tests.cdc_servers``)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pymysql
import pytest

from tests.cdc_servers import MariaDB, PgCluster, mariadb_server, pg_cluster


@pytest.fixture(scope="session")
def cdc_pg() -> Iterator[PgCluster]:
    """A PostgreSQL cluster with wal_level=logical; databases ``postgres`` and ``target``."""
    with pg_cluster() as running:
        with psycopg.connect(running.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE target")
        yield running


@pytest.fixture(scope="session")
def cdc_mariadb() -> Iterator[MariaDB]:
    """A MariaDB with the full row binlog; databases ``cdc`` and ``target``."""
    with mariadb_server() as running:
        conn = pymysql.connect(host="127.0.0.1", port=running.port, user="root", autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute("CREATE DATABASE cdc")
                cursor.execute("CREATE DATABASE target")
        finally:
            conn.close()
        yield running
