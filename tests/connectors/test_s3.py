"""The ``s3`` connector against a real S3-compatible server (moto's, on loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headwater.connectors.errors import JobFailed
from headwater.connectors.registry import Registry
from headwater.engine import TableJob, run_table_job

BUCKET = "hw-test"


@pytest.fixture
def s3_props(s3_endpoint: str, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Connection properties for a fresh prefix of a bucket on the moto server."""
    props = {
        "bucket": BUCKET,
        "prefix": f"t/{request.node.name}",
        "endpoint_url": s3_endpoint,
        "region": "eu-west-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }
    target = Registry.default(plugins=False).open_target("s3", props)
    try:
        fs = target.storage.fs  # type: ignore[attr-defined]
        if not fs.exists(BUCKET):
            fs.mkdir(BUCKET)
        yield props
    finally:
        target.close()


def _storage_files(props: dict[str, Any], path: str) -> list[str]:
    target = Registry.default(plugins=False).open_target("s3", props)
    try:
        fs = target.storage.fs  # type: ignore[attr-defined]
        root = target.storage.full(path)  # type: ignore[attr-defined]
        return sorted(p[len(root) + 1 :] for p in fs.find(root))
    finally:
        target.close()


def _read_manifest(props: dict[str, Any], table: str) -> dict[str, Any]:
    target = Registry.default(plugins=False).open_target("s3", props)
    try:
        from headwater.connectors.base import TableRef

        manifest = target.manifest(TableRef(table))  # type: ignore[attr-defined]
        assert manifest is not None
        return manifest
    finally:
        target.close()


def test_local_csv_to_s3_parquet_and_back(tmp_path: Path, s3_props: dict[str, Any]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "orders.csv").write_text(
        "id,country,amount\n" + "".join(f"{i},{'NL' if i % 2 else 'FR'},{i}.5\n" for i in range(50))
    )
    partitioned = {**s3_props, "partition_by": "country"}
    result = run_table_job(
        TableJob(
            "local_files",
            {"root": str(src)},
            "s3",
            partitioned,
            source_table="orders.csv",
            target_table="orders",
        )
    )
    assert result.rows == 50
    files = _storage_files(s3_props, "orders")
    assert "_SUCCESS" in files and "_manifest.json" in files
    assert not any("_hw_staging" in f for f in files)
    assert {f.split("/")[0] for f in files if "/" in f} == {"country=FR", "country=NL"}

    back = tmp_path / "back"
    result = run_table_job(
        TableJob(
            "s3",
            s3_props,
            "local_files",
            {"root": str(back)},
            source_table="orders",
            target_table="orders",
        )
    )
    assert result.rows == 50
    manifest = json.loads((back / "orders" / "_manifest.json").read_text())
    table = pa.concat_tables(pq.read_table(back / "orders" / f["name"]) for f in manifest["files"])
    assert sorted(table.column("id").to_pylist()) == list(range(50))
    assert table.schema.field("amount").type == pa.float64()


def test_s3_incremental_append_and_failed_load(tmp_path: Path, s3_props: dict[str, Any]) -> None:
    landing = {**s3_props, "prefix": s3_props["prefix"] + "/landing"}
    lake = {**s3_props, "prefix": s3_props["prefix"] + "/lake"}
    target = Registry.default(plugins=False).open_target("s3", landing)
    try:
        fs = target.storage.fs  # type: ignore[attr-defined]
        root = target.storage.root  # type: ignore[attr-defined]
        fs.pipe_file(f"{root}/day1.jsonl", b'{"id": 1}\n{"id": 2}\n')
    finally:
        target.close()
    job = TableJob(
        "s3",
        landing,
        "s3",
        lake,
        source_table="*.jsonl",
        target_table="events",
        extract_method="incremental",
        cursor_column="_hw_file",
        cursor_type="string",
        load_method="append",
        source_options={"file_columns": True},
    )
    assert run_table_job(job).rows == 2
    target = Registry.default(plugins=False).open_target("s3", landing)
    try:
        target.storage.fs.pipe_file(  # type: ignore[attr-defined]
            f"{target.storage.root}/day2.jsonl",  # type: ignore[attr-defined]
            b'{"id": 3}\n',
        )
        target.storage.fs.pipe_file(  # type: ignore[attr-defined]
            f"{target.storage.root}/day3.jsonl",  # type: ignore[attr-defined]
            b'{"id": 4}\n{"id": "not a number"}\n',
        )
    finally:
        target.close()
    before = _read_manifest(lake, "events")
    with pytest.raises(JobFailed, match=r"day3\.jsonl"):
        run_table_job(job)
    assert _read_manifest(lake, "events") == before
    assert not any("_hw_staging" in f for f in _storage_files(lake, "events"))

    target = Registry.default(plugins=False).open_target("s3", landing)
    try:
        target.storage.fs.rm(f"{target.storage.root}/day3.jsonl")  # type: ignore[attr-defined]
    finally:
        target.close()
    assert run_table_job(job).rows == 1
    assert run_table_job(job).rows == 0
    manifest = _read_manifest(lake, "events")
    assert len(manifest["files"]) == 2
    (state,) = manifest["states"].values()
    assert state["value"] == "day2.jsonl"


def test_s3_wrong_credentials_fail_clearly(s3_props: dict[str, Any]) -> None:
    source = Registry.default(plugins=False).open_source("s3", {**s3_props, "bucket": "missing"})
    try:
        with pytest.raises(Exception, match="missing"):
            source.test()
    finally:
        source.close()
