"""Overwrite into a PostgreSQL table that users built on: views, indexes and grants survive.

A table with nothing on it is replaced by swapping in the staging table (fast, nothing copied
twice). A table with a dependent view, an index, a grant or a trigger, whose columns still match
the source's, is refilled in place (TRUNCATE + INSERT in the publish transaction), so those
objects keep working. When the columns changed, a dependent view makes the run fail with a
message saying why, and the table stays as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from headwater.connectors.errors import JobFailed
from headwater.engine import TableJob, run_table_job
from tests.connectors.dbkit import pg_checksum, pg_database, pg_exec, pg_rows

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg() -> Iterator[dict[str, Any]]:
    with pg_database("ow_keep") as props:
        pg_exec(  # roles are cluster-wide: another run may have made it
            props,
            "DO $$ BEGIN CREATE ROLE hw_test_reader NOLOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        )
        yield props


def _source(pg: dict[str, Any], table: str, rows: int, extra_column: bool = False) -> None:
    extra = ", g * 2 AS doubled" if extra_column else ""
    pg_exec(
        pg,
        f"DROP TABLE IF EXISTS {table}",
        f"CREATE TABLE {table} AS SELECT g::bigint AS id, 'row ' || g AS name{extra} "
        f"FROM generate_series(1, {rows}) g",
    )


def _overwrite(pg: dict[str, Any], source: str, target: str) -> int:
    return run_table_job(
        TableJob("postgres", pg, "postgres", pg, source_table=source, target_table=target)
    ).rows


def _oid(pg: dict[str, Any], table: str) -> int:
    return int(pg_rows(pg, f"SELECT '{table}'::regclass::oid")[0][0])


def test_a_table_with_a_view_an_index_and_a_grant_is_refilled_in_place(
    pg: dict[str, Any],
) -> None:
    _source(pg, "src_keep", 100)
    assert _overwrite(pg, "src_keep", "keep") == 100
    pg_exec(
        pg,
        "CREATE VIEW keep_big AS SELECT id, name FROM keep WHERE id > 50",
        "CREATE INDEX keep_name ON keep (name)",
        "GRANT SELECT ON keep TO hw_test_reader",
    )
    table_oid = _oid(pg, "keep")
    _source(pg, "src_keep", 300)
    assert _overwrite(pg, "src_keep", "keep") == 300
    assert pg_checksum(pg, "keep") == pg_checksum(pg, "src_keep")
    assert pg_rows(pg, "SELECT count(*) FROM keep_big") == [(250,)]
    assert pg_rows(pg, "SELECT indexname FROM pg_indexes WHERE tablename = 'keep'") == [
        ("keep_name",)
    ]
    assert pg_rows(pg, "SELECT has_table_privilege('hw_test_reader', 'keep', 'SELECT')") == [
        (True,)
    ]
    assert _oid(pg, "keep") == table_oid  # the same table, refilled
    assert pg_rows(pg, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_hw\\_stage%'") == [
        (0,)
    ]


def test_a_bare_table_is_swapped(pg: dict[str, Any]) -> None:
    _source(pg, "src_bare", 10)
    _overwrite(pg, "src_bare", "bare")
    table_oid = _oid(pg, "bare")
    _source(pg, "src_bare", 20)
    assert _overwrite(pg, "src_bare", "bare") == 20
    assert _oid(pg, "bare") != table_oid  # a new table took its place
    assert pg_checksum(pg, "bare") == pg_checksum(pg, "src_bare")


def test_changed_columns_under_a_view_fail_clearly_and_keep_the_table(
    pg: dict[str, Any],
) -> None:
    _source(pg, "src_drift", 10)
    _overwrite(pg, "src_drift", "drift")
    pg_exec(pg, "CREATE VIEW drift_view AS SELECT * FROM drift")
    before = pg_checksum(pg, "drift")
    _source(pg, "src_drift", 40, extra_column=True)
    with pytest.raises(JobFailed, match=r"drift: the overwrite cannot replace the table.*depend"):
        _overwrite(pg, "src_drift", "drift")
    assert pg_checksum(pg, "drift") == before
    assert pg_rows(pg, "SELECT count(*) FROM drift_view") == [(10,)]
