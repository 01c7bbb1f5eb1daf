"""A river table's ``partition_by`` reaches the Iceberg target through the runner's table jobs:
each table created by the river gets its own partition spec (read back with pyiceberg), the
connection's ``partition_by`` is only the default, and a partition column that is missing at
the source or left unselected fails the run with a message naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater.connectors.base import TableRef
from headwater.connectors.errors import JobFailed
from headwater.engine.pipeline import run_table_job
from headwater.runner.source_to_target import build_jobs
from headwater.schemas.rivers_s2t import SrcToTrgtRiver
from tests.connectors.conformance import pg_exec
from tests.connectors.dbkit import pg_database
from tests.connectors.lakehouse_kit import lakehouse_props, lakehouse_registry

RIVER_ID = "d" * 24


@pytest.fixture
def src() -> Any:
    with pg_database("partition_src") as props:
        pg_exec(
            props,
            "CREATE TABLE events (id int PRIMARY KEY, kind text, created_at timestamptz)",
            "INSERT INTO events SELECT g, 'k' || (g % 3), "
            "timestamptz '2024-03-01' + g * interval '5 hours' FROM generate_series(1, 60) g",
        )
        yield props


def _river(tables: list[dict[str, Any]]) -> SrcToTrgtRiver:
    return SrcToTrgtRiver.model_validate(
        {
            "name": "partitioned",
            "type": "source_to_target",
            "properties": {
                "source": {"connection_id": "b" * 24},
                "target": {"connection_id": "c" * 24, "schema_name": "lake"},
                "schemas": [{"name": "public", "tables": tables}],
            },
        }
    )


def _spec(props: dict[str, Any], table: str) -> list[tuple[str, str, str]]:
    target = lakehouse_registry().open_target("iceberg", props)
    try:
        loaded = target.conn.load(TableRef(table, "lake"))
        schema = loaded.schema()
        return [
            (schema.find_column_name(f.source_id), str(f.transform), f.name)
            for f in loaded.spec().fields
        ]
    finally:
        target.close()


def test_each_table_of_a_river_gets_its_own_partition_spec(src: Any, tmp_path: Path) -> None:
    props = {**lakehouse_props("iceberg", tmp_path, None), "partition_by": "kind"}
    river = _river(
        [
            {
                "name": "events",
                "details": {
                    "target_table": "by_day",
                    "partition_by": ["day(created_at)", "bucket(4, id)"],
                },
            },
            {"name": "events", "details": {"target_table": "by_id", "partition_by": ["id"]}},
            {"name": "events", "details": {"target_table": "by_default"}},
        ]
    )
    jobs = build_jobs(RIVER_ID, river, ("postgres", src), ("iceberg", props))
    registry = lakehouse_registry()
    for job in jobs.values():
        assert run_table_job(job, registry=registry).rows == 60
    assert _spec(props, "by_day") == [
        ("created_at", "day", "created_at_day"),
        ("id", "bucket[4]", "id_bucket"),
    ]
    assert _spec(props, "by_id") == [("id", "identity", "id")]
    # no partition_by in the river: the connection's default applies
    assert _spec(props, "by_default") == [("kind", "identity", "kind")]


def test_a_partition_column_must_exist_and_be_selected(src: Any, tmp_path: Path) -> None:
    props = lakehouse_props("iceberg", tmp_path, None)
    river = _river(
        [
            {"name": "events", "details": {"target_table": "a", "partition_by": ["day(gone)"]}},
            {
                "name": "events",
                "details": {
                    "target_table": "b",
                    "partition_by": ["bucket(4, kind)"],
                    "modified_columns": [{"name": "kind", "is_selected": False}],
                },
            },
        ]
    )
    first, second = build_jobs(RIVER_ID, river, ("postgres", src), ("iceberg", props)).values()
    registry = lakehouse_registry()
    with pytest.raises(JobFailed, match=r"partition_by column\(s\) 'gone' not found"):
        run_table_job(first, registry=registry)
    with pytest.raises(JobFailed, match="partition_by column 'kind' is not selected"):
        run_table_job(second, registry=registry)
    assert _tables(props) == []  # nothing created


def _tables(props: dict[str, Any]) -> list[str]:
    target = lakehouse_registry().open_target("iceberg", props)
    try:
        return list(target.conn.tables("lake"))
    finally:
        target.close()
