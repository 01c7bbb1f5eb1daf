"""The CSV reader parses on all cores under ``fail`` and still names the first invalid line."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from headwater.connectors.errors import ValueRejected
from headwater.connectors.files import csvread
from headwater.connectors.files.csvread import CsvOptions


def _write(path: Path, rows: int, bad_at: int | None) -> None:
    """``rows`` records, every 7th with a quoted newline; record ``bad_at`` has a stray field."""
    lines = ["id,note\n"]
    for i in range(1, rows + 1):
        note = f'"line {i}\nsecond half"' if i % 7 == 0 else f"note {i}"
        lines.append(f"{i},{note},extra\n" if i == bad_at else f"{i},{note}\n")
    path.write_text("".join(lines))


def _read(path: Path, policy: csvread.InvalidPolicy) -> tuple[pa.Table, list[str]]:
    logged: list[str] = []
    batches = list(
        csvread.read_batches(
            lambda: path.open("rb"),
            CsvOptions(on_invalid_rows=policy),
            {},
            4096,  # many blocks, so the threaded reader really splits the file
            "f.csv",
            lambda _level, message: logged.append(message),
        )
    )
    return pa.Table.from_batches(batches), logged


def _physical_line(record: int) -> int:
    """Line of record ``record`` (1 = first data row): header + records before it, doubled
    for the ones with a quoted newline."""
    before = range(1, record)
    return 1 + len(before) + sum(1 for i in before if i % 7 == 0) + 1


def test_threaded_read_keeps_order_and_values(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    _write(path, 20_000, None)
    table, logged = _read(path, "fail")
    assert table.column("id").to_pylist() == list(range(1, 20_001))
    assert table.column("note")[13].as_py() == "line 14\nsecond half"
    assert logged == []


@pytest.mark.parametrize("bad_at", [3, 12_345, 19_999])
def test_first_invalid_line_is_named_under_fail(tmp_path: Path, bad_at: int) -> None:
    path = tmp_path / "f.csv"
    _write(path, 20_000, bad_at)
    with pytest.raises(ValueRejected) as caught:
        _read(path, "fail")
    assert f"f.csv line {_physical_line(bad_at)}: invalid row (expected 2 fields, found 3)" in (
        str(caught.value)
    )


def test_skip_and_log_names_each_skipped_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    _write(path, 20_000, 12_345)
    table, logged = _read(path, "skip_and_log")
    assert table.num_rows == 19_999 and 12_345 not in table.column("id").to_pylist()
    assert logged[0].startswith(f"f.csv line {_physical_line(12_345)}: skipped invalid row")
