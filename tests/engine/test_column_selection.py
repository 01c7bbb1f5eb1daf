"""Column selection (``modified_columns`` entries with ``is_selected: false``) in the engine, on
the real servers: PostgreSQL -> PostgreSQL (native COPY and Arrow paths), PostgreSQL -> DuckDB,
a custom query, a CSV file source, and a source plugin that ignores the columns it is asked for.
The target table gets only the selected columns; keys and the cursor must be among them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from headwater.connectors.base import ReadRequest
from headwater.connectors.errors import JobFailed
from headwater.connectors.postgres.source import PostgresSource
from headwater.connectors.postgres.spec import spec as postgres_spec
from headwater.connectors.registry import Registry
from headwater.engine import TableJob, run_table_job

try:
    from tests.connectors.dbkit import pg_database, pg_exec, pg_rows
except ImportError:
    from connectors.dbkit import pg_database, pg_exec, pg_rows  # type: ignore

pytestmark = pytest.mark.postgres

ALL = ["id", "name", "secret_note", "amount", "updated_at"]
KEPT = ["id", "name", "amount", "updated_at"]


class GreedySource(PostgresSource):
    """A plugin-like source that returns every column whatever the request asks for."""

    def read(self, request: ReadRequest) -> Iterator[pa.RecordBatch]:
        assert request.table is not None
        every = self.describe(request.table).columns
        return super().read(replace(request, columns=every))


def _registry() -> Registry:
    registry = Registry.default(plugins=False)
    registry.register(
        replace(
            postgres_spec(),
            name="greedy_pg",
            capabilities=replace(postgres_spec().capabilities, native_stream_format=None),
            source_class=f"{__name__}:GreedySource",
        )
    )
    return registry


@pytest.fixture(scope="module")
def src() -> Iterator[dict[str, Any]]:
    with pg_database("cols_src") as props:
        pg_exec(
            props,
            "CREATE TABLE items (id bigint PRIMARY KEY, name text, secret_note text, "
            "amount numeric(12,2), updated_at timestamptz NOT NULL)",
            "INSERT INTO items SELECT g, 'item ' || g, 'do not copy ' || g, g * 1.25, "
            "timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 500) g",
        )
        yield props


@pytest.fixture(scope="module")
def dst() -> Iterator[dict[str, Any]]:
    with pg_database("cols_dst") as props:
        yield props


def _pg_columns(props: dict[str, Any], table: str) -> list[str]:
    return [
        r[0]
        for r in pg_rows(
            props,
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_name = '{table}' ORDER BY ordinal_position",
        )
    ]


@pytest.mark.parametrize("target", ["postgres", "arrow"])
def test_postgres_target_gets_only_selected_columns(
    src: dict[str, Any], dst: dict[str, Any], target: str
) -> None:
    registry = _registry()
    source = "postgres" if target == "postgres" else "greedy_pg"
    name = f"sel_{target}"
    job = TableJob(
        source,
        src,
        "postgres",
        dst,
        source_table="items",
        target_table=name,
        excluded_columns=("secret_note",),
        load_method="merge",
        merge_keys=("id",),
        extract_method="incremental",
        cursor_column="updated_at",
        cursor_type="timestamp",
    )
    result = run_table_job(job, registry=registry)
    assert result.rows == 500
    assert result.native is (target == "postgres")
    assert _pg_columns(dst, name) == KEPT
    assert pg_rows(dst, f"SELECT count(*), sum(amount) FROM {name}") == pg_rows(
        src, "SELECT count(*), sum(amount) FROM items"
    )
    # A second run merges on the key; the unselected column never appears.
    pg_exec(src, "UPDATE items SET name = 'renamed', updated_at = now() WHERE id = 7")
    again = run_table_job(job, registry=registry)
    assert again.rows in (1, 2)  # the changed row (and the re-read boundary row)
    assert pg_rows(dst, f"SELECT name FROM {name} WHERE id = 7") == [("renamed",)]
    assert _pg_columns(dst, name) == KEPT
    pg_exec(src, "UPDATE items SET name = 'item 7' WHERE id = 7")


def test_duckdb_target_and_custom_query(src: dict[str, Any], tmp_path: Path) -> None:
    path = str(tmp_path / "wh.duckdb")
    table = run_table_job(
        TableJob(
            "postgres",
            src,
            "duckdb",
            {"path": path},
            source_table="items",
            target_table="items",
            excluded_columns=("secret_note", "updated_at", "gone_from_source"),
        )
    )
    query = run_table_job(
        TableJob(
            "postgres",
            src,
            "duckdb",
            {"path": path},
            source_query="SELECT id, secret_note, amount FROM items WHERE id <= 10",
            target_table="top",
            excluded_columns=("secret_note",),
        )
    )
    assert (table.rows, query.rows) == (500, 10)
    with duckdb.connect(path, read_only=True) as conn:
        cols = [r[0] for r in conn.execute("DESCRIBE items").fetchall()]
        top = [r[0] for r in conn.execute("DESCRIBE top").fetchall()]
        assert conn.execute("SELECT sum(id) FROM top").fetchone() == (55,)
    assert cols == ["id", "name", "amount"] and top == ["id", "amount"]


def test_file_source_projects_columns(tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    (root / "people.csv").write_text("id,name,email\n1,ann,a@x\n2,bob,b@x\n")
    path = str(tmp_path / "wh.duckdb")
    result = run_table_job(
        TableJob(
            "local_files",
            {"root": str(root)},
            "duckdb",
            {"path": path},
            source_table="people.csv",
            target_table="people",
            excluded_columns=("email",),
            source_options={"file_format": "csv"},
        )
    )
    assert result.rows == 2
    with duckdb.connect(path, read_only=True) as conn:
        assert conn.execute("SELECT * FROM people ORDER BY id").fetchall() == [
            (1, "ann"),
            (2, "bob"),
        ]


@pytest.mark.parametrize(
    ("kw", "role"),
    [
        ({"load_method": "merge", "merge_keys": ("id",)}, "merge key"),
        (
            {"extract_method": "incremental", "cursor_column": "id", "cursor_type": "number"},
            "cursor",
        ),
    ],
)
def test_key_or_cursor_must_be_selected(
    src: dict[str, Any], dst: dict[str, Any], kw: dict[str, Any], role: str
) -> None:
    job = TableJob(
        "postgres", src, "postgres", dst, source_table="items", target_table="never",
        excluded_columns=("id",), **kw,
    )  # fmt: skip
    with pytest.raises(JobFailed, match=f"the {role} column 'id' is not selected"):
        run_table_job(job)
    assert _pg_columns(dst, "never") == []


def test_nothing_selected_is_a_clear_error(src: dict[str, Any], dst: dict[str, Any]) -> None:
    job = TableJob(
        "postgres", src, "postgres", dst, source_table="items", target_table="never",
        excluded_columns=tuple(ALL),
    )  # fmt: skip
    with pytest.raises(JobFailed, match="none is selected"):
        run_table_job(job)


def test_a_column_deselected_later_stays_in_the_target_unwritten(
    src: dict[str, Any], tmp_path: Path
) -> None:
    path = str(tmp_path / "wh.duckdb")

    def load(excluded: tuple[str, ...]) -> None:
        run_table_job(
            TableJob(
                "postgres", src, "duckdb", {"path": path}, source_table="items",
                target_table="items", load_method="append", excluded_columns=excluded,
            )
        )  # fmt: skip

    load(())
    load(("secret_note",))
    with duckdb.connect(path, read_only=True) as conn:
        assert conn.execute("SELECT count(*), count(secret_note) FROM items").fetchone() == (
            1000,
            500,
        )
