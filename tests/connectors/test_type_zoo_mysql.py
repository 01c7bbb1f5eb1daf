"""The MySQL/MariaDB type zoo through every target: identical, documented, or refused by name.

Each target gets the zoo (``mysql_zoo.ZOO_TYPES``: integers signed and unsigned at their
extremes, ``bit(64)``, ``decimal(65,30)``, floats, padded binaries, enum/set, year 0 and 2155,
times beyond 24 h and negative, JSON with unicode and big numbers, spatial values, MariaDB's
inet4/inet6/uuid, NULLs everywhere) through the production engine, is read back with its own
client, and is compared column by column (an md5 of canonical values) with what MySQL itself
returns. The representations allowed are the ones ``docs/type-mapping.md`` lists; values that
no target can hold (zero dates, a ``tinyint(1)`` holding 2, binary into CSV) fail the run
naming the column, and leave the target without the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from headwater.connectors.errors import JobFailed
from headwater.engine import TableJob, run_table_job

from .mysql_zoo import (
    BINARY,
    CSV_DECODE,
    SQLITE_DECODE,
    create_zoo,
    digests,
    read_csv,
    read_duckdb,
    read_mysql,
    read_parquet,
    read_postgres,
    read_sqlite,
    source_values,
)

try:
    from tests.connectors.dbkit import (
        mysql_database,
        mysql_exec,
        mysql_rows,
        pg_database,
        pg_rows,
    )
except ImportError:
    from connectors.dbkit import (  # type: ignore
        mysql_database,
        mysql_exec,
        mysql_rows,
        pg_database,
        pg_rows,
    )

pytestmark = pytest.mark.mysql


@pytest.fixture(scope="module")
def zoo() -> Iterator[dict[str, Any]]:
    with mysql_database("zoo") as my, pg_database("zoo_pg") as pg:
        names = create_zoo(my)
        mysql_exec(
            my,
            "SET SESSION sql_mode = ''",
            "CREATE TABLE zeros (id int PRIMARY KEY, d date, dtm datetime(6))",
            "INSERT INTO zeros VALUES (1, '2024-01-01', '2024-01-01 00:00:00'), "
            "(2, '0000-00-00', '0000-00-00 00:00:00'), (3, '2024-00-00', '2024-01-00 10:00:00')",
            "CREATE TABLE flags (id int PRIMARY KEY, flag tinyint(1))",
            "INSERT INTO flags VALUES (1, 1), (2, 0), (3, 2), (4, NULL)",
        )
        yield {"my": my, "pg": pg, "names": names, "expected": source_values(my, names)}


def _target(kind: str, zoo: dict[str, Any], tmp: Path) -> tuple[str, dict[str, Any]]:
    if kind == "postgres":
        return "postgres", zoo["pg"]
    if kind == "mysql":
        return "mysql", zoo["my"]
    if kind in ("sqlite", "duckdb"):
        return kind, {"path": str(tmp / f"zoo.{kind}")}
    return "local_files", {"root": str(tmp / "files"), "file_format": kind}


#: target -> (read back, documented representations decoded, read through a source query)
TARGETS: dict[str, tuple[Callable[..., dict[str, Any]], dict[str, Any], bool]] = {
    "postgres": (read_postgres, {}, False),
    "mysql": (read_mysql, {}, False),
    "sqlite": (read_sqlite, SQLITE_DECODE, False),
    "duckdb": (read_duckdb, {}, True),  # the PyMySQL path (custom query)
    "parquet": (read_parquet, {}, False),
    "csv": (read_csv, CSV_DECODE, True),  # binary columns are refused in CSV (see below)
}


def _where(kind: str, props: dict[str, Any]) -> Any:
    return props.get("path") or props.get("root") or props


@pytest.mark.parametrize("kind", list(TARGETS))
def test_every_value_arrives_identical_or_in_its_documented_form(zoo, kind, tmp_path):
    reader, decode, by_query = TARGETS[kind]
    connector, props = _target(kind, zoo, tmp_path)
    names = [n for n in zoo["names"] if not (kind == "csv" and n in BINARY)]
    table = f"zoo_{kind}"
    source = (
        {"source_query": f"SELECT {', '.join(names)} FROM zoo"}
        if by_query
        else {"source_table": "zoo"}
    )
    job = TableJob(
        "mysql", zoo["my"], connector, props, target_table=table, batch_bytes=32 * 1024, **source
    )
    assert run_table_job(job).rows == 5
    got = digests(reader(_where(kind, props), table, names), decode)
    want = digests({n: zoo["expected"][n] for n in names}, {})
    changed = sorted(n for n in names if got[n] != want[n])
    assert changed == [], f"{kind}: values changed in column(s) {changed}"


def test_mysql_target_recreates_every_native_type(zoo):
    run_table_job(
        TableJob("mysql", zoo["my"], "mysql", zoo["my"], source_table="zoo", target_table="zoo2")
    )

    def column_types(table: str) -> list[tuple[Any, ...]]:
        return mysql_rows(
            zoo["my"],
            "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE "
            f"TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION",
        )

    assert column_types("zoo2") == column_types("zoo")
    assert mysql_rows(zoo["my"], "SELECT ST_SRID(geo) FROM zoo2 WHERE id = 4") == [(4326,)]


def test_postgres_types_hold_the_full_range(zoo, tmp_path):
    run_table_job(TableJob("mysql", zoo["my"], "postgres", zoo["pg"], source_table="zoo"))
    types = dict(
        pg_rows(
            zoo["pg"],
            "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns "
            "JOIN pg_attribute ON attrelid = 'zoo'::regclass AND attname = column_name "
            "WHERE table_name = 'zoo'",
        )
    )
    assert types["u64"] == "numeric(20,0)" and types["b64"] == "numeric(20,0)"
    assert types["u32"] == "bigint" and types["dec_frac"] == "numeric(65,30)"
    assert types["tm"] == "interval" and types["js"] == "jsonb"
    if "uid" in types:
        assert types["uid"] == "uuid"


@pytest.mark.parametrize("kind", ["postgres", "mysql", "sqlite", "duckdb", "parquet"])
def test_zero_dates_fail_the_run_naming_the_column(zoo, kind, tmp_path):
    connector, props = _target(kind, zoo, tmp_path)
    table = f"zeros_{kind}"
    with pytest.raises(JobFailed) as info:
        run_table_job(
            TableJob("mysql", zoo["my"], connector, props, source_table="zeros", target_table=table)
        )
    message = str(info.value)
    assert "column 'd' (date)" in message and "zero date '0000-00-00'" in message
    assert "NULLIF" in message
    if kind == "postgres":
        assert pg_rows(zoo["pg"], f"SELECT to_regclass('{table}') IS NULL") == [(True,)]
    if kind == "parquet":
        assert not (tmp_path / "files" / table / "_manifest.json").exists()


def test_zero_dates_through_a_source_query_fail_the_same_way(zoo):
    with pytest.raises(JobFailed) as info:
        run_table_job(
            TableJob(
                "mysql",
                zoo["my"],
                "postgres",
                zoo["pg"],
                source_query="SELECT id, dtm FROM zeros",
                target_table="zeros_query",
            )
        )
    assert "column 'dtm' (datetime(6))" in str(info.value)
    assert "zero date '0000-00-00 00:00:00.000000'" in str(info.value)


def test_a_tinyint1_holding_2_is_refused_not_turned_into_true(zoo):
    with pytest.raises(JobFailed) as info:
        run_table_job(TableJob("mysql", zoo["my"], "postgres", zoo["pg"], source_table="flags"))
    message = str(info.value)
    assert "column 'flag' (tinyint(1)) holds 2" in message and "CAST(`flag` AS SIGNED)" in message
    assert pg_rows(zoo["pg"], "SELECT to_regclass('flags') IS NULL") == [(True,)]


def test_binary_columns_are_refused_by_csv_naming_them(zoo, tmp_path):
    props = {"root": str(tmp_path / "csv"), "file_format": "csv"}
    with pytest.raises(JobFailed) as info:
        run_table_job(TableJob("mysql", zoo["my"], "local_files", props, source_table="zoo"))
    assert "'bn', 'vb', 'bl'" in str(info.value) and "cannot be written to CSV" in str(info.value)
