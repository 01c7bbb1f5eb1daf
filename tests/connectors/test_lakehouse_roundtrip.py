"""Acceptance round trips PostgreSQL -> Iceberg / Delta, read back three ways, and crashes.

Each kind is loaded from PostgreSQL by the production engine and read back with the format's
own library (pyiceberg, deltalake) and with DuckDB's ``iceberg_scan`` / ``delta_scan``; a
per-column checksum of every reading equals PostgreSQL's. DuckDB's extensions are not
downloadable here: they come from PyPI (``duckdb-ext-*``), which has them for DuckDB 1.4 only,
so DuckDB runs in a cached venv of its own (``lakehouse_kit.duckdb_python``).

The crash tests: a load failed by an injected source error, and a load whose process is
SIGKILLed after it wrote data files but before its commit, both leave no new snapshot or
version and the same rows; the killed load's files are orphans no reader sees, and the next
incremental run loads exactly the missing rows.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from headwater.connectors.base import TableRef
from headwater.connectors.errors import JobFailed
from tests.engine.faulty import faulty_registry

from .conformance import copy, pg_exec, pg_rows
from .lakehouse_kit import (
    LakehouseBackend,
    duckdb_query,
    duckdb_s3_setup,
    lakehouse_registry,
    open_lakehouse_backend,
)

try:
    from tests.connectors.dbkit import pg_database, require_service
except ImportError:
    from connectors.dbkit import pg_database, require_service  # type: ignore

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

#: Per column: its canonical text in PostgreSQL and in DuckDB (Python's is in ``_py_text``).
COLUMNS = {
    "id": ("id::text", "id::VARCHAR"),
    "name": ("name", "name"),
    "amount": ("amount::text", "amount::VARCHAR"),
    "at": ("(extract(epoch FROM at) * 1000000)::bigint::text", 'epoch_us("at")::VARCHAR'),
    "flag": ("flag::text", "flag::VARCHAR"),
    "day": ("day::text", "day::VARCHAR"),
    "ratio": ("ratio::text", "ratio::VARCHAR"),
    "payload": ("payload::text", "payload"),
}


def _digest(texts: list[str | None]) -> str:
    return hashlib.md5("|".join("<null>" if t is None else t for t in texts).encode()).hexdigest()


@pytest.fixture(scope="module")
def source() -> Iterator[dict[str, Any]]:
    require_service("postgres")
    with pg_database("lake_src") as props:
        pg_exec(
            props,
            "CREATE TABLE acc (id bigint PRIMARY KEY, name text, amount numeric(12,2), "
            "at timestamptz, flag boolean, day date, ratio double precision, payload jsonb)",
            "INSERT INTO acc SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE "
            "'n\u00e9 ' || g || ' \u540d' END, g * 1.25, "
            "timestamptz '2024-02-29 12:00:00.123456+02' + g * interval '1.000001 second', "
            "g % 2 = 0, date '2000-01-01' + g, g + 0.5, jsonb_build_object('g', g, 'l', '\u00fc') "
            "FROM generate_series(1, 3000) g",
        )
        yield props


def pg_digests(props: dict[str, Any], table: str) -> dict[str, str]:
    out = {}
    for name, (expression, _) in COLUMNS.items():
        query = (
            f"SELECT md5(string_agg(coalesce({expression}, '<null>'), '|' ORDER BY id)) "
            f"FROM {table}"
        )
        out[name] = str(pg_rows(props, query)[0][0])
    return out


def _py_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if name == "at":
        return str(round((value - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1e6))
    if name == "flag":
        return "true" if value else "false"
    return str(value)


def arrow_digests(table: pa.Table) -> dict[str, str]:
    table = table.sort_by("id")
    return {n: _digest([_py_text(n, v) for v in table.column(n).to_pylist()]) for n in COLUMNS}


def duckdb_digests(scan: str, setup: tuple[str, ...]) -> dict[str, str]:
    parts = [
        f"md5(string_agg(coalesce({expression}, '<null>'), '|' ORDER BY id))"
        for _, expression in COLUMNS.values()
    ]
    row = duckdb_query(f"SELECT {', '.join(parts)} FROM {scan}", setup)[0]
    return dict(zip(COLUMNS, [str(v) for v in row], strict=True))


def _open(backend: LakehouseBackend, table: str) -> Any:
    found = backend.manifest(table)
    assert found is not None
    return found


@pytest.mark.parametrize("kind", ["iceberg", "iceberg_s3", "delta", "delta_s3"])
def test_postgres_to_lakehouse_read_back_three_ways(source, kind, tmp_path, request):
    endpoint = request.getfixturevalue("s3_endpoint") if kind.endswith("_s3") else None
    registry = lakehouse_registry()
    with open_lakehouse_backend(kind, tmp_path, endpoint, registry) as backend:
        result = copy("postgres", source, kind, backend.props, "acc", "acc", registry=registry)
        assert result.rows == 3000
        expected = pg_digests(source, "acc")
        table = _open(backend, "acc")
        setup = duckdb_s3_setup(endpoint) if endpoint else ()
        if kind.startswith("iceberg"):
            assert arrow_digests(table.scan().to_arrow()) == expected
            location = table.metadata_location.removeprefix("file://")
            scan = f"iceberg_scan('{location}')"
        else:
            assert arrow_digests(table.to_pyarrow_table()) == expected
            scan = f"delta_scan('{str(table.table_uri).removeprefix('file://').rstrip('/')}')"
        assert duckdb_digests(scan, setup) == expected
        # and back into PostgreSQL through the connector's own source
        copy(kind, backend.props, "postgres", source, "acc", f"acc_{kind}", registry=registry)
        assert pg_digests(source, f"acc_{kind}") == expected


def _data_files(root: Path) -> set[str]:
    return {str(p) for p in root.rglob("*.parquet")}


@pytest.mark.parametrize("kind", ["iceberg", "delta"])
def test_injected_failure_leaves_the_table_as_it_was(source, kind, tmp_path):
    registry = lakehouse_registry()
    for spec in faulty_registry().specs():
        if spec.name.startswith("faulty"):
            registry.register(spec)
    with open_lakehouse_backend(kind, tmp_path, None, registry) as backend:
        copy("postgres", source, kind, backend.props, "acc", "acc", registry=registry)
        before = (backend.versions("acc"), backend.count("acc"), _data_files(tmp_path))
        failing = {**source, "fail_at": "read:3"}
        for method in ("append", "overwrite", "merge"):
            with pytest.raises(JobFailed, match="injected"):
                copy(
                    "faulty_pg_arrow",
                    failing,
                    kind,
                    backend.props,
                    "acc",
                    "acc",
                    registry=registry,
                    load_method=method,
                    merge_keys=("id",) if method == "merge" else (),
                )
            after = (backend.versions("acc"), backend.count("acc"), _data_files(tmp_path))
            assert after == before, method


@pytest.mark.parametrize("kind", ["iceberg", "delta"])
def test_run_killed_before_commit_changes_nothing_and_rerun_is_exact(source, kind, tmp_path):
    registry = lakehouse_registry()
    with (
        pg_database("lake_kill") as src,
        open_lakehouse_backend(kind, tmp_path, None, registry) as backend,
    ):
        pg_exec(
            src,
            "CREATE TABLE ev (id bigint PRIMARY KEY, at timestamptz, v text)",
            "INSERT INTO ev SELECT g, timestamptz '2024-01-01' + g * interval '1 second', "
            "repeat('x', 200) FROM generate_series(1, 200) g",
        )
        job = dict(
            extract_method="incremental",
            cursor_column="at",
            cursor_type="timestamp",
            load_method="append",
        )
        copy("postgres", src, kind, backend.props, "ev", "ev", registry=registry, **job)
        pg_exec(
            src,
            "INSERT INTO ev SELECT g, timestamptz '2024-01-01' + g * interval '1 second', "
            "repeat('y', 200) FROM generate_series(201, 400) g",
        )
        before = (backend.versions("ev"), backend.count("ev"), backend.commits("ev"))
        files_before = _data_files(tmp_path)
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.connectors.lakehouse_child"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            text=True,
        )
        assert child.stdin is not None
        child.stdin.write(
            json.dumps(
                {"source": src, "kind": kind, "target": backend.props, "table": "ev", "job": job}
            )
        )
        child.stdin.close()
        deadline = time.monotonic() + 60
        while not (_data_files(tmp_path) - files_before) and time.monotonic() < deadline:
            assert child.poll() is None, "the child finished before writing a data file"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        orphans = _data_files(tmp_path) - files_before
        assert orphans, "the killed load wrote no data file"
        # no new snapshot / version, the same rows and the same state
        assert (backend.versions("ev"), backend.count("ev"), backend.commits("ev")) == before
        copy("postgres", src, kind, backend.props, "ev", "ev", registry=registry, **job)
        table = _open(backend, "ev")
        data = table.scan().to_arrow() if kind == "iceberg" else table.to_pyarrow_table()
        ids = sorted(data.column("id").to_pylist())
        assert ids == list(range(1, 401))  # every row exactly once: nothing lost, nothing twice
        assert backend.versions("ev") == before[0] + 1
        # the orphans are still there (no reader lists them) until maintenance removes them
        assert orphans <= _data_files(tmp_path)
        ref = TableRef("ev", "default")
        assert ref.display() == "default.ev"
