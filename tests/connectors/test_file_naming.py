"""The default target table name of a file source's table (connectors/files/naming.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.connectors.files.naming import table_name_for_file


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("orders.csv", "orders"),
        ("orders.CSV", "orders"),
        ("data/2024/orders.csv.gz", "orders"),
        ("orders.parquet.snappy", "orders"),
        ("events.jsonl.zst", "events"),
        ("events.ndjson", "events"),
        ("customers.tsv.bz2", "customers"),
        ("archive.v2.csv", "archive.v2"),
        ("orders_*.csv", "orders"),
        ("orders-[0-9].csv.gz", "orders"),
        ("events/**/*.parquet", "events"),
        ("sales/2024-*/part-*.parquet", "part"),
        ("*.csv", "file_3"),
        ("**/*", "file_3"),
        ("readme", "readme"),
        (".csv", ".csv"),  # nothing but a suffix: the name is kept rather than emptied
    ],
)
def test_default_names(path: str, expected: str) -> None:
    assert table_name_for_file(path, 2) == expected


@given(st.text(min_size=0, max_size=40))
def test_any_path_gives_a_non_empty_name_without_slashes(path: str) -> None:
    name = table_name_for_file(path, 0)
    assert name and "/" not in name and "\\" not in name
