"""Fixtures and helpers shared by the Snowflake test modules (one fakesnow server per module)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from headwater.connectors.registry import Registry
from tests.connectors.conformance import create_pg_zoo, pg_exec
from tests.connectors.dbkit import pg_database
from tests.connectors.fakesnow_server import fakesnow_server, snowflake_props
from tests.connectors.snowflake_faulty import faulty_registry

KIND = "snowflake"


@pytest.fixture(scope="module")
def port(tmp_path_factory: Any) -> Iterator[int]:
    with fakesnow_server(tmp_path_factory.mktemp("fakesnow") / "server.log") as port:
        yield port


@pytest.fixture(scope="module")
def sf(port: int) -> dict[str, Any]:
    return snowflake_props(port)


@pytest.fixture(scope="module")
def hub() -> Iterator[dict[str, Any]]:
    with pg_database("sf_hub") as props:
        create_pg_zoo(props)
        yield props


@pytest.fixture(scope="module")
def registry() -> Registry:
    return faulty_registry()


def sf_rows(props: dict[str, Any], query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` run on the fakesnow server with the real driver."""
    from headwater.connectors.snowflake.conn import connect, run

    conn = connect(props)
    try:
        return run(conn, query)
    finally:
        conn.close()


def add_inc_rows(hub: dict[str, Any], table: str, first: int, last: int) -> None:
    """Rows ``first..last`` with a timestamp one second and one microsecond apart."""
    pg_exec(
        hub,
        f"INSERT INTO {table} SELECT g, timestamptz '2024-01-01' + g * interval "
        f"'1.000001 second', 'v' || g FROM generate_series({first}, {last}) g",
    )
