"""The state table is created once however many table jobs start on a fresh schema at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from headwater.connectors.postgres.target import STATE_TABLE, PostgresTarget, _create_state_table

from .dbkit import pg_database, pg_rows

THREADS = 8


def test_concurrent_creators_of_one_state_table_all_succeed() -> None:
    """PostgreSQL's ``CREATE TABLE IF NOT EXISTS`` is not safe against a concurrent creator
    (the loser fails on the row type); CI once lost a table job to it in a 20-table river."""
    with pg_database("state_race") as props:
        for attempt in range(5):
            schema = f"fresh_{attempt}"
            barrier = threading.Barrier(THREADS)

            def create(_: int, schema: str = schema, barrier: threading.Barrier = barrier) -> bool:
                target = PostgresTarget({**props, "schema_name": schema})
                barrier.wait()
                return _create_state_table(target, schema)

            with ThreadPoolExecutor(THREADS) as pool:
                assert list(pool.map(create, range(THREADS))) == [True] * THREADS
            tables = pg_rows(
                props,
                "SELECT count(*) FROM information_schema.tables "
                f"WHERE table_schema = '{schema}' AND table_name = '{STATE_TABLE}'",
            )
            assert tables == [(1,)]
