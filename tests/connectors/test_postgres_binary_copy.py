"""Arrow into PostgreSQL by binary COPY (pgpq) gives exactly what the CSV path gives.

A DuckDB table holding every type the binary path encodes, with edge values (integer bounds,
NaN and infinities, 38-digit decimals, microseconds, dates far from today, unicode, empty
strings and NULL in every column), is loaded into PostgreSQL twice: once by binary COPY and
once with the binary encoder switched off (CSV). The two tables must hold the same rows, and
the log says which path each load took. Pairings without an exact binary encoding fall back
to CSV; an integer out of its column's range fails the load, naming the table, and leaves
the target as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pytest

from headwater.connectors.errors import JobFailed
from headwater.connectors.postgres import binarycopy, target
from headwater.engine import TableJob, run_table_job
from tests.connectors.dbkit import pg_database

ZOO = """
CREATE TABLE zoo AS SELECT * FROM (VALUES
  (1, (-32768)::SMALLINT, (-2147483648)::INTEGER, (-9223372036854775808)::BIGINT,
   'NaN'::REAL, 'Infinity'::DOUBLE, 12345678901234567890123456789.123456789::DECIMAL(38,9),
   true, DATE '0001-01-01', TIME '00:00:00.000001',
   TIMESTAMP '1999-12-31 23:59:59.999999', TIMESTAMPTZ '2000-01-01 00:00:00.000001+00',
   'ünïcödé 表 🚀', '{"a": [1, 2.5, null], "b": "x\\"y"}', '\\x00\\xFF'::BLOB,
   '{"n": 1.50, "s": "é"}'::JSON),
  (2, 32767::SMALLINT, 2147483647::INTEGER, 9223372036854775807::BIGINT,
   '-Infinity'::REAL, (-0.0)::DOUBLE, (-0.000000001)::DECIMAL(38,9),
   false, DATE '9999-12-31', TIME '23:59:59.999999',
   TIMESTAMP '2262-04-11 23:47:16.854775', TIMESTAMPTZ '1970-01-01 00:00:00+00',
   '', '[]', ''::BLOB, '[]'::JSON),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(id, i2, i4, i8, f4, f8, dec, flag, day, clock, ts, tstz, label, doc, raw, js)
"""


@pytest.fixture(scope="module")
def pg() -> Iterator[dict[str, Any]]:
    with pg_database("binary_copy") as props:
        yield props


@pytest.fixture
def zoo_file(tmp_path: Path) -> str:
    path = str(tmp_path / "zoo.duckdb")
    with duckdb.connect(path) as conn:
        conn.execute(ZOO)
    return path


def _load(source: str, pg: dict[str, Any], table: str) -> int:
    job = TableJob(
        "duckdb", {"path": source}, "postgres", pg, source_table="zoo", target_table=table
    )
    return run_table_job(job).rows


def _rows(pg: dict[str, Any], query: str) -> list[tuple[Any, ...]]:
    url = f"postgresql://{pg['username']}@{pg['host']}:{pg['port']}/{pg['database']}"
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_binary_and_csv_paths_load_the_same_values(
    zoo_file: str,
    pg: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger=target.__name__):
        assert _load(zoo_file, pg, "zoo_binary") == 3
    assert "sent as binary COPY" in caplog.text
    caplog.clear()
    monkeypatch.setattr(target, "binary_encoder", lambda columns: None)
    with caplog.at_level(logging.INFO, logger=target.__name__):
        assert _load(zoo_file, pg, "zoo_csv") == 3
    assert "sent as CSV COPY" in caplog.text

    binary = _rows(pg, "SELECT * FROM zoo_binary ORDER BY id")
    csv = _rows(pg, "SELECT * FROM zoo_csv ORDER BY id")
    assert len(binary) == 3
    assert binary == csv or _same_with_nan(binary, csv)
    differ = _rows(
        pg,
        "SELECT count(*) FROM ((TABLE zoo_binary EXCEPT TABLE zoo_csv) "
        "UNION ALL (TABLE zoo_csv EXCEPT TABLE zoo_binary)) d",
    )
    assert differ == [(0,)]
    types = dict(
        _rows(
            pg,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'zoo_binary'",
        )
    )
    assert types["dec"] == "numeric" and types["js"] == "jsonb"
    assert first_js(binary) == {"n": 1.50, "s": "é"}
    first = binary[0]
    assert str(first[6]) == "12345678901234567890123456789.123456789"
    assert first[12] == "ünïcödé 表 🚀" and bytes(first[14]) == b"\x00\xff"


def first_js(rows: list[tuple[Any, ...]]) -> Any:
    return rows[0][15]


def _same_with_nan(left: list[tuple[Any, ...]], right: list[tuple[Any, ...]]) -> bool:
    """Row lists equal, reading NaN as equal to NaN (Python's ``==`` does not)."""
    return [tuple("NaN" if v != v else v for v in row) for row in left] == [
        tuple("NaN" if v != v else v for v in row) for row in right
    ]


def test_pairings_without_an_exact_binary_encoding_use_csv() -> None:
    encodable = binarycopy.binary_encoder(
        [(pa.int64(), "integer"), (pa.string(), "jsonb"), (pa.large_string(), "text")]
    )
    assert encodable is not None
    batch = pa.record_batch(
        [pa.array([1], pa.int64()), pa.array(['{"a": 1}']), pa.array(["é"], pa.large_string())],
        ["i", "j", "t"],
    )
    encoded = encodable.header() + encodable.batch(batch) + encodable.trailer()
    assert "é".encode() in encoded and b'{"a": 1}' in encoded
    for arrow_type, type_text in [
        (pa.string(), "uuid"),
        (pa.month_day_nano_interval(), "interval"),
        (pa.list_(pa.int64()), "bigint[]"),
        (pa.decimal256(60, 10), "numeric(60,10)"),
        (pa.float64(), "numeric(12,2)"),
        (pa.timestamp("ns"), "timestamp without time zone"),
        (pa.string(), "mood"),  # an enum
    ]:
        assert binarycopy.binary_encoder([(arrow_type, type_text)]) is None, type_text
    assert binarycopy.base_type("character varying(20)") == "character varying"
    assert binarycopy.base_type("numeric(12,-2)") == "numeric"


def test_an_integer_out_of_its_columns_range_fails_and_changes_nothing(
    zoo_file: str, pg: dict[str, Any]
) -> None:
    url = f"postgresql://{pg['username']}@{pg['host']}:{pg['port']}/{pg['database']}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE narrow (id integer, i8 integer)")
        conn.execute("INSERT INTO narrow VALUES (7, 7)")
    with duckdb.connect(zoo_file) as conn:
        conn.execute("CREATE TABLE wide AS SELECT id, i8 FROM zoo")
    job = TableJob(
        "duckdb",
        {"path": zoo_file},
        "postgres",
        pg,
        source_table="wide",
        target_table="narrow",
        load_method="append",
        schema_drift="freeze",
    )
    with pytest.raises(JobFailed, match=r"narrow.*value rejected.*not in range"):
        run_table_job(job)
    assert _rows(pg, "SELECT * FROM narrow") == [(7, 7)]
