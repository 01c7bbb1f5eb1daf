"""MySQL/MariaDB specifics: native types to PostgreSQL, chunked reads, errors, cancel."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from headwater.connectors.errors import AuthenticationFailed, Cancelled, JobFailed, ObjectNotFound
from headwater.engine import TableJob, run_table_job

try:
    from tests.connectors.dbkit import (
        mysql_database,
        mysql_exec,
        mysql_rows,
        pg_checksum,
        pg_database,
        pg_rows,
    )
except ImportError:
    from connectors.dbkit import (  # type: ignore
        mysql_database,
        mysql_exec,
        mysql_rows,
        pg_checksum,
        pg_database,
        pg_rows,
    )

pytestmark = pytest.mark.mysql

NATIVE = (
    "CREATE TABLE zoo (id int PRIMARY KEY, u64 bigint unsigned, i8 tinyint, flag tinyint(1), "
    "dec65 decimal(65,30), dec12 decimal(12,2), f float, d double, vc varchar(20), "
    "t text, b blob, dt date, dtm datetime(6), ts timestamp(6) NULL, tm time(6), y year, "
    "j json, e enum('red','green'), s set('a','b'), bits bit(5))"
)
NATIVE_ROWS = (
    "INSERT INTO zoo VALUES "
    "(1, 18446744073709551615, -128, 1, "
    "'12345678901234567890123456789012345.123456789012345678901234567890', 1234567890.12, "
    "1.5, 0.1, 'héllo 🎉', 'line\\nbreak', x'00ff', '2024-02-29', '2024-02-29 12:34:56.123456', "
    "'2024-02-29 12:34:56.654321', '-838:59:59.000000', 2024, '{\"a\": [1, null]}', 'green', "
    "'a,b', b'10101'), "
    "(2, 0, 127, 0, '-0.000000000000000000000000000001', -0.01, -2.25, -1e308, '', '', x'', "
    "'1000-01-01', '1000-01-01 00:00:00', '1970-01-01 00:00:01', '00:00:00.000001', 1901, "
    "'[]', 'red', '', b'0'), "
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL)"
)
EXPECTED_PG = [
    (
        1,
        "18446744073709551615",
        -128,
        True,
        "12345678901234567890123456789012345.123456789012345678901234567890",
        "1234567890.12",
        1.5,
        0.1,
        "héllo 🎉",
        "line\nbreak",
        b"\x00\xff",
        "2024-02-29",
        "2024-02-29 12:34:56.123456",
        "2024-02-29 12:34:56.654321+00",
        "-838:59:59",
        2024,
        '{"a": [1, null]}',
        "green",
        "a,b",
        21,
    ),
    (
        2,
        "0",
        127,
        False,
        "-0.000000000000000000000000000001",
        "-0.01",
        -2.25,
        -1e308,
        "",
        "",
        b"",
        "1000-01-01",
        "1000-01-01 00:00:00",
        "1970-01-01 00:00:01+00",
        "00:00:00.000001",
        1901,
        "[]",
        "red",
        "",
        0,
    ),
    (
        3,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ),
]


@pytest.fixture(scope="module")
def my() -> Iterator[dict[str, Any]]:
    with mysql_database("my") as props:
        mysql_exec(
            props,
            NATIVE,
            NATIVE_ROWS,
            "CREATE TABLE big (id bigint PRIMARY KEY, v varchar(40), n decimal(10,3))",
        )
        values = ", ".join(f"({g}, 'row {g}', {g} / 7)" for g in range(1, 6001))
        mysql_exec(props, f"INSERT INTO big VALUES {values}")
        yield props


@pytest.fixture(scope="module")
def pg() -> Iterator[dict[str, Any]]:
    with pg_database("my_pg") as props:
        yield props


def test_native_types_arrive_exactly_in_postgres(my, pg):
    result = run_table_job(TableJob("mysql", my, "postgres", pg, source_table="zoo"))
    assert result.rows == 3
    rows = pg_rows(
        pg,
        "SELECT id, u64::text, i8, flag, dec65::text, dec12::text, f, d, vc, t, "
        "b, dt::text, dtm::text, ts::text, tm::text, y, j::text, e, s, bits "
        "FROM zoo ORDER BY id",
    )
    assert rows == EXPECTED_PG
    types = dict(
        pg_rows(
            pg,
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'zoo'",
        )
    )
    assert types["u64"] == "numeric" and types["dec65"] == "numeric"
    assert types["j"] == "jsonb" and types["ts"] == "timestamp with time zone"
    assert types["tm"] == "interval" and types["flag"] == "boolean"


def test_mysql_to_mysql_keeps_native_types_and_values(my):
    run_table_job(TableJob("mysql", my, "mysql", my, source_table="zoo", target_table="zoo2"))
    assert mysql_rows(my, "SELECT * FROM zoo2 ORDER BY id") == mysql_rows(
        my, "SELECT * FROM zoo ORDER BY id"
    )
    original = mysql_rows(
        my,
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'zoo' "
        "ORDER BY ORDINAL_POSITION",
    )
    copied = mysql_rows(
        my,
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'zoo2' "
        "ORDER BY ORDINAL_POSITION",
    )
    assert copied == original


def test_keyset_chunks_and_parallel_ranges_read_every_row_once(my, pg):
    for parts in (1, 3):
        result = run_table_job(
            TableJob(
                "mysql",
                my,
                "postgres",
                pg,
                source_table="big",
                target_table=f"big_{parts}",
                batch_bytes=16 * 1024,
                parallel_partitions=parts,
            )
        )
        assert result.rows == 6000 and result.partitions == parts
        expected_sum = str(mysql_rows(my, "SELECT SUM(n) FROM big")[0][0])
        assert pg_rows(pg, f"SELECT count(DISTINCT id), sum(n)::text FROM big_{parts}") == [
            (6000, expected_sum)
        ]
    assert pg_checksum(pg, "big_1") == pg_checksum(pg, "big_3")


def test_custom_query_streams_through_pymysql(my, pg):
    result = run_table_job(
        TableJob(
            "mysql",
            my,
            "postgres",
            pg,
            target_table="q",
            source_query="SELECT id, v FROM big WHERE id % 1000 = 0",
        )
    )
    assert result.rows == 6
    assert pg_rows(pg, "SELECT max(v) FROM q") == [("row 6000",)]


def test_wrong_password_is_an_authentication_failure(my, pg):
    bad = dict(my, password="definitely-wrong")
    with pytest.raises(JobFailed) as info:
        run_table_job(TableJob("mysql", bad, "postgres", pg, source_table="zoo"))
    assert isinstance(info.value.cause, AuthenticationFailed)
    assert "zoo" in str(info.value) and "Access denied" in str(info.value)
    assert "definitely-wrong" not in str(info.value)


def test_missing_database_and_table(my, pg):
    with pytest.raises(JobFailed) as info:
        run_table_job(TableJob("mysql", my, "postgres", pg, source_table="nope_table"))
    assert isinstance(info.value.cause, ObjectNotFound) and "nope_table" in str(info.value)
    with pytest.raises(JobFailed) as info:
        run_table_job(
            TableJob(
                "mysql", dict(my, database="hw_no_such_db"), "postgres", pg, source_table="zoo"
            )
        )
    assert isinstance(info.value.cause, ObjectNotFound)


def test_value_too_large_for_mysql_target(my, pg):
    from tests.connectors.dbkit import pg_exec

    pg_exec(
        pg,
        "CREATE TABLE long_values (id int, code text)",
        "INSERT INTO long_values VALUES (1, 'ok'), (2, 'this is far too long')",
    )
    mysql_exec(my, "CREATE TABLE long_values (id int, code varchar(5))")
    with pytest.raises(JobFailed) as info:
        run_table_job(
            TableJob(
                "postgres",
                pg,
                "mysql",
                my,
                source_table="long_values",
                load_method="append",
                schema_drift="freeze",
            )
        )
    message = str(info.value)
    assert "long_values" in message and "code" in message and "too long" in message.lower()
    assert mysql_rows(my, "SELECT count(*) FROM long_values") == [(0,)]


def test_cancel_kills_the_server_query_in_seconds(my, pg):
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run_table_job(
            TableJob(
                "mysql",
                my,
                "postgres",
                pg,
                target_table="slow",
                source_query="SELECT id, SLEEP(0.05) AS s FROM big",
            ),
            cancel=cancel,
        )
    assert time.monotonic() - started < 10
    running = mysql_rows(
        my,
        "SELECT count(*) FROM information_schema.PROCESSLIST "
        "WHERE INFO LIKE '%SLEEP(0.05)%' AND ID <> CONNECTION_ID()",
    )
    assert running == [(0,)]
