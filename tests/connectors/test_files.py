"""Local file connectors through the real engine: CSV robustness, formats, incremental, target."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from headwater.connectors.errors import JobFailed
from headwater.engine import TableJob, run_table_job

ROBUST_CSV = (
    b"\xef\xbb\xbfid,name,note\n"  # BOM                                      line 1
    b'1,"Smith, Jane","said ""hi"""\n'  # quotes, delimiter in quotes         line 2
    b'2,multi,"line one\nline two"\n'  # embedded newline                     lines 3-4
    b"3,short\n"  # one field missing                                          line 5
    b"4,caf\xe9,latin-1 byte\n"  # invalid UTF-8                              line 6
    b'5,"split\n\xff",bad bytes in a multi-line value\n'  # invalid UTF-8    lines 7-8
    b"6,extra,field,here\n"  # one field too many                              line 9
    b"7,ok,\xc3\xa9t\xc3\xa9\n"  # valid UTF-8                               line 10
)


def _job(src: Path, out: Path, name: str, **kwargs: Any) -> TableJob:
    options = kwargs.pop("source_options", {})
    target_props = kwargs.pop("target_props", {})
    return TableJob(
        "local_files",
        {"root": str(src)},
        "local_files",
        {"root": str(out), **target_props},
        source_table=name,
        target_table=kwargs.pop("target_table", "t"),
        source_options=options,
        **kwargs,
    )


def _table(out: Path, name: str = "t") -> pa.Table:
    manifest = json.loads((out / name / "_manifest.json").read_text())
    files = [str(out / name / f["name"]) for f in manifest["files"]]
    fmt = "csv" if manifest["format"] == "csv" else "parquet"
    return ds.dataset(files, format=fmt).to_table() if files else pa.table({})


def _run(job: TableJob) -> tuple[Any, list[tuple[str, str]]]:
    logs: list[tuple[str, str]] = []
    result = run_table_job(job, log=lambda level, message: logs.append((level, message)))
    return result, logs


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    return src, out


def test_csv_invalid_rows_are_logged_with_line_numbers(dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    (src / "robust.csv").write_bytes(ROBUST_CSV)
    result, logs = _run(
        _job(src, out, "robust.csv", source_options={"on_invalid_rows": "skip_and_log"})
    )
    table = _table(out).sort_by("id")
    assert result.rows == 3
    rows = table.to_pylist()
    assert [r["id"] for r in rows] == [1, 2, 7]
    assert rows[0] == {"id": 1, "name": "Smith, Jane", "note": 'said "hi"'}
    assert rows[1]["note"] == "line one\nline two"
    assert rows[2]["note"] == "été"
    warnings = [m for level, m in logs if level == "warning"]
    skipped = [m for m in warnings if "skipped invalid row" in m]
    assert [m.split(" line ")[1].split(":")[0] for m in skipped] == ["5", "6", "7", "9"]
    assert "expected 3 fields, found 2" in skipped[0]
    assert "not valid in the file's encoding" in skipped[1]
    assert "expected 3 fields, found 4" in skipped[3]
    assert any("skipped 4 invalid row(s)" in m for m in warnings)


def test_csv_invalid_rows_fail_the_run_by_default(dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    (src / "robust.csv").write_bytes(ROBUST_CSV)
    with pytest.raises(JobFailed) as caught:
        _run(_job(src, out, "robust.csv"))
    message = str(caught.value)
    assert "robust.csv line 5" in message and "on_invalid_rows" in message
    assert not (out / "t").exists() or not (out / "t" / "_manifest.json").exists()

    (src / "robust.csv").write_bytes(b"id,name\n1,a\n2,caf\xe9\n")
    with pytest.raises(JobFailed, match=r"robust.csv line 3: invalid row \(bytes that"):
        _run(_job(src, out, "robust.csv"))


def test_csv_dialect_encoding_compression_and_overrides(dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    latin = "1;Zoë;0012;2024-03-01\n2;Ana;0013;2024-03-02\n".encode("latin-1")
    (src / "a.txt.gz").write_bytes(gzip.compress(latin))
    zstd_path = src / "b.txt.zst"
    with pa.CompressedOutputStream(str(zstd_path), "zstd") as stream:
        stream.write("3;Bo;0014;2024-03-03\n".encode("latin-1"))
    options = {
        "file_format": "csv",
        "delimiter": ";",
        "header": False,
        "column_names": ["id", "name", "code", "day"],
        "encoding": "latin-1",
        "columns": {"code": "string", "day": "date"},
    }
    result, _ = _run(_job(src, out, "*.txt.*", source_options=options))
    table = _table(out).sort_by("id")
    assert result.rows == 3
    assert table.column("name").to_pylist() == ["Zoë", "Ana", "Bo"]
    assert table.column("code").to_pylist() == ["0012", "0013", "0014"]
    assert table.schema.field("day").type == pa.date32()


def test_jsonl_json_array_and_parquet_sources(dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    records = [{"id": i, "user": {"name": f"u{i}", "tags": ["a", "b"]}} for i in range(5)]
    (src / "events.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (src / "events.json").write_text(json.dumps(records, indent=2))
    pq.write_table(pa.Table.from_pylist([{"id": 1, "v": 1.5}, {"id": 2, "v": None}]), src / "p.pq")

    _run(_job(src, out, "events.jsonl", source_options={"nested": "flatten"}))
    flat = _table(out).sort_by("id")
    assert flat.column_names == ["id", "user__name", "user__tags"]
    assert json.loads(flat.column("user__tags")[0].as_py()) == ["a", "b"]

    _run(_job(src, out, "events.json", source_options={"file_format": "jsonl"}))
    kept = _table(out).sort_by("id")
    assert kept.column_names == ["id", "user"]
    assert json.loads(kept.column("user")[4].as_py()) == {"name": "u4", "tags": ["a", "b"]}

    _run(_job(src, out, "p.pq", source_options={"columns": {"v": "decimal(10,2)"}}))
    table = _table(out).sort_by("id")
    assert table.schema.field("v").type == pa.decimal128(10, 2)
    assert [str(v) if v is not None else None for v in table.column("v").to_pylist()] == [
        "1.50",
        None,
    ]


def test_incremental_by_modification_time_loads_each_file_once(dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    (src / "in").mkdir()
    (src / "in" / "a.csv").write_text("id\n1\n2\n")
    os.utime(src / "in" / "a.csv", (1_700_000_000, 1_700_000_000))
    job = _job(
        src,
        out,
        "in",
        extract_method="incremental",
        cursor_column="_hw_file_modified",
        cursor_type="timestamp",
        load_method="append",
        source_options={"file_format": "csv", "file_columns": True},
    )
    assert _run(job)[0].rows == 2
    assert _run(job)[0].rows == 0
    (src / "in" / "b.csv").write_text("id\n3\n")
    os.utime(src / "in" / "b.csv", (1_700_000_100, 1_700_000_100))
    result, logs = _run(job)
    assert result.rows == 1
    assert any("boundary row(s)" in m or "already loaded" in m for _, m in logs)
    table = _table(out)
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3]
    assert set(table.column("_hw_file").to_pylist()) == {"in/a.csv", "in/b.csv"}
    manifest = json.loads((out / "t" / "_manifest.json").read_text())
    assert manifest["states"][job.resolved_state_key(None)]["kind"] == "timestamptz"


def test_incremental_by_file_name(dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    for day in ("2024-01-01", "2024-01-02"):
        (src / f"sales_{day}.csv").write_text(f"day\n{day}\n")
    job = _job(
        src,
        out,
        "sales_*.csv",
        extract_method="incremental",
        cursor_column="_hw_file",
        cursor_type="string",
        load_method="append",
        source_options={"file_columns": True},
    )
    assert _run(job)[0].rows == 2
    (src / "sales_2024-01-03.csv").write_text("day\n2024-01-03\n")
    assert _run(job)[0].rows == 1
    assert _run(job)[0].rows == 0
    assert len(_table(out)) == 3


def test_target_overwrite_is_atomic_and_failed_load_leaves_table(dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    (src / "a.csv").write_text("id,v\n1,x\n2,y\n")
    _run(_job(src, out, "a.csv", add_metadata_columns=True))
    first = json.loads((out / "t" / "_manifest.json").read_text())
    assert (out / "t" / "_SUCCESS").read_text() == first["load_id"]
    assert _table(out).column_names == ["id", "v", "_hw_loaded_at", "_hw_load_id"]

    (src / "a.csv").write_text("id,v\n1,x\n2,y\nthree,z\n")  # fails type conversion
    with pytest.raises(JobFailed, match=r"a\.csv"):
        _run(_job(src, out, "a.csv", source_options={"columns": {"id": "integer"}}))
    assert json.loads((out / "t" / "_manifest.json").read_text()) == first
    assert sorted(p.name for p in (out / "t").iterdir()) == sorted(
        ["_SUCCESS", "_manifest.json", *(f["name"] for f in first["files"])]
    )

    (src / "a.csv").write_text("id,v\n10,new\n")
    _run(_job(src, out, "a.csv"))
    second = json.loads((out / "t" / "_manifest.json").read_text())
    assert _table(out).column("id").to_pylist() == [10]
    names = sorted(p.name for p in (out / "t").iterdir())
    assert names == sorted(["_SUCCESS", "_manifest.json", *(f["name"] for f in second["files"])])


def test_target_partitions_and_csv_format(dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    (src / "a.csv").write_text("id,country\n1,NL\n2,FR\n3,NL\n4,\n")
    _run(
        _job(
            src,
            out,
            "a.csv",
            target_props={"file_format": "csv", "partition_by": "country"},
        )
    )
    folders = sorted(p.name for p in (out / "t").iterdir() if p.is_dir())
    assert folders == ["country=FR", "country=NL", "country=__HIVE_DEFAULT_PARTITION__"]
    nl = list((out / "t" / "country=NL").iterdir())
    assert pacsv.read_csv(nl[0]).column("id").to_pylist() == [1, 3]
    _run(_job(src, out, "a.csv", target_table="r", target_props={"partition_by": "run_date"}))
    (folder,) = [p.name for p in (out / "r").iterdir() if p.is_dir()]
    assert folder.startswith("run_date=20")
    # the file source reads a target table back through its manifest
    _run(_job(out, src, "r", target_table="back"))
    assert sorted(_table(src, "back").column("id").to_pylist()) == [1, 2, 3, 4]


def test_option_and_path_errors(dirs: tuple[Path, Path]) -> None:
    src, out = dirs
    (src / "a.csv").write_text("id\n1\n")
    with pytest.raises(JobFailed, match="unknown source option"):
        _run(_job(src, out, "a.csv", source_options={"delimeter": ";"}))
    with pytest.raises(JobFailed, match="leaves the root"):
        _run(_job(src, out, "../a.csv"))
    with pytest.raises(JobFailed, match="no file matches"):
        _run(_job(src, out, "nothing/*.csv"))
    with pytest.raises(JobFailed, match="cannot merge"):
        _run(_job(src, out, "a.csv", load_method="merge", merge_keys=("id",)))


@pytest.mark.postgres
def test_csv_into_postgres(dirs: tuple[Path, Path]) -> None:
    from tests.connectors.dbkit import pg_database, pg_rows

    src, _ = dirs
    (src / "a.csv").write_bytes(ROBUST_CSV)
    with pg_database("files") as props:
        job = TableJob(
            "local_files",
            {"root": str(src)},
            "postgres",
            props,
            source_table="a.csv",
            target_table="robust",
            source_options={"on_invalid_rows": "skip_and_log"},
        )
        assert run_table_job(job).rows == 3
        rows = pg_rows(props, "SELECT id, name, note FROM robust ORDER BY id")
    assert rows == [
        (1, "Smith, Jane", 'said "hi"'),
        (2, "multi", "line one\nline two"),
        (7, "ok", "été"),
    ]
