"""A river table's ``partition_by`` reaches the Iceberg target through the runner's table jobs:
each table created by the river gets its own partition spec (read back with pyiceberg), the
connection's ``partition_by`` is only the default, and a partition column that is missing at
the source or left unselected fails the run with a message naming it. Delta partitions by
column value (identity) only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from headwater.connectors.base import TableRef
from headwater.connectors.errors import JobFailed
from headwater.engine.pipeline import run_table_job
from headwater.runner.source_to_target import build_jobs
from headwater.schemas.rivers_s2t import SrcToTrgtRiver
from tests.connectors.conformance import pg_exec, pg_rows
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


def _events(target_table: str, *fields: str, **details: Any) -> dict[str, Any]:
    """The river's ``events`` table loaded into ``target_table`` partitioned by ``fields``."""
    return {
        "name": "events",
        "details": {"target_table": target_table, "partition_by": list(fields), **details},
    }


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
            _events("by_day", "day(created_at)", "bucket(4, id)"),
            _events("by_id", "id"),
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


def test_a_partition_column_must_exist_be_selected_and_fit(src: Any, tmp_path: Path) -> None:
    props = lakehouse_props("iceberg", tmp_path, None)
    unselected = [{"name": "kind", "is_selected": False}]
    river = _river(
        [
            _events("a", "day(gone)"),
            _events("b", "bucket(4, kind)", modified_columns=unselected),
            _events("c", "day(id)"),
            _events("d", "bucket(4, id)", "bucket(8, id)"),
        ]
    )
    jobs = build_jobs(RIVER_ID, river, ("postgres", src), ("iceberg", props))
    first, second, third, fourth = jobs.values()
    registry = lakehouse_registry()
    with pytest.raises(JobFailed, match=r"partition_by column\(s\) 'gone' not found"):
        run_table_job(first, registry=registry)
    with pytest.raises(JobFailed, match="partition_by column 'kind' is not selected"):
        run_table_job(second, registry=registry)
    with pytest.raises(
        JobFailed, match=r"partition_by day cannot apply to column 'id' of type int"
    ):
        run_table_job(third, registry=registry)
    with pytest.raises(JobFailed, match="two fields named 'id_bucket'"):
        run_table_job(fourth, registry=registry)
    assert _tables(props) == []  # nothing created


def _tables(props: dict[str, Any]) -> list[str]:
    target = lakehouse_registry().open_target("iceberg", props)
    try:
        return list(target.conn.tables("lake"))
    finally:
        target.close()


def test_delta_tables_are_partitioned_by_column(src: Any, tmp_path: Path) -> None:
    from deltalake import DeltaTable

    props = lakehouse_props("delta", tmp_path, None)
    key = [{"name": "id", "is_key": True}]
    river = _river(
        [
            _events("by_kind", "kind"),
            _events("merged", "kind", loading_method="merge", modified_columns=key),
            _events("by_day", "day(created_at)"),
        ]
    )
    by_kind, merged, by_day = build_jobs(
        RIVER_ID, river, ("postgres", src), ("delta", props)
    ).values()
    registry = lakehouse_registry()
    for _ in range(2):  # created, then loaded into the existing partitioned table
        assert run_table_job(by_kind, registry=registry).rows == 60
        assert run_table_job(merged, registry=registry).rows == 60
    # an append adds files with their partition values to the existing partitioned table
    pg_exec(src, "INSERT INTO events VALUES (61, NULL, now())")
    assert run_table_job(replace(by_kind, load_method="append"), registry=registry).rows == 61
    for name, rows, total in (("by_kind", 121, 2 * 1830 + 61), ("merged", 60, 1830)):
        table = DeltaTable(str(tmp_path / "lake" / "lake" / name))
        assert table.metadata().partition_columns == ["kind"]
        data = table.to_pyarrow_table()
        assert data.num_rows == rows and sum(data.column("id").to_pylist()) == total
        folders = {Path(f).parent.name for f in table.file_uris()}
        nulls = {"kind=__HIVE_DEFAULT_PARTITION__"} if rows > 60 else set()
        assert folders == {"kind=k0", "kind=k1", "kind=k2", *nulls}
    # the Delta source reads the partition column back
    back = run_table_job(
        replace(by_kind, source_connector="delta", source_props=props, source_schema="lake",
                source_table="by_kind", target_connector="postgres", target_props=src,
                target_table="kind_back", target_schema=None, partition_by=()),
        registry=registry,
    )  # fmt: skip
    assert back.rows == 121
    assert pg_rows(
        src, "SELECT count(DISTINCT kind), count(*) - count(kind), sum(id) FROM kind_back"
    ) == [(3, 1, 2 * 1830 + 61)]
    with pytest.raises(JobFailed, match="column names only, not transforms: 'day"):
        run_table_job(by_day, registry=registry)
