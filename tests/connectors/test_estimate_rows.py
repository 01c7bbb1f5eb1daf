"""Row estimates for the console's schema browser: from catalogue statistics, never a scan."""

from __future__ import annotations

import pytest

from headwater.connectors.duckdb.source import DuckDBSource
from headwater.connectors.mysql.source import MySQLSource
from headwater.connectors.postgres.source import PostgresSource
from tests.connectors.dbkit import mysql_database, mysql_exec, pg_database, pg_exec


@pytest.mark.postgres
def test_postgres_estimates_from_statistics() -> None:
    with pg_database("hw_estimate") as props:
        pg_exec(
            props,
            "CREATE TABLE big (id int)",
            "INSERT INTO big SELECT generate_series(1, 1000)",
            "ANALYZE big",
            "CREATE TABLE never_analyzed (id int)",
        )
        source = PostgresSource(props)
        try:
            estimates = source.estimate_rows()
        finally:
            source.close()
        assert estimates["big"] == 1000
        assert estimates.get("never_analyzed", 0) == 0


@pytest.mark.mysql
def test_mysql_estimates_from_information_schema() -> None:
    with mysql_database("hw_estimate") as props:
        mysql_exec(
            props,
            "CREATE TABLE t (id int PRIMARY KEY)",
            "INSERT INTO t VALUES (1), (2), (3)",
            "ANALYZE TABLE t",
        )
        source = MySQLSource(props)
        try:
            assert source.estimate_rows() == {"t": 3}
        finally:
            source.close()


def test_a_source_without_statistics_gives_none(tmp_path: object) -> None:
    assert DuckDBSource({"path": ":memory:"}).estimate_rows() == {}
