"""Schema drift policies and the messages of failed jobs (PostgreSQL -> PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from headwater.connectors.errors import (
    AuthenticationFailed,
    JobFailed,
    ObjectNotFound,
    SchemaDriftError,
    ValueRejected,
)
from headwater.engine import TableJob, run_table_job

try:
    from tests.connectors.dbkit import pg_checksum, pg_database, pg_exec, pg_rows
except ImportError:
    from connectors.dbkit import pg_checksum, pg_database, pg_exec, pg_rows  # type: ignore

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def src() -> Iterator[dict[str, Any]]:
    with pg_database("drift_src") as props:
        yield props


@pytest.fixture(scope="module")
def dst() -> Iterator[dict[str, Any]]:
    with pg_database("drift_dst") as props:
        yield props


def append(src: dict[str, Any], dst: dict[str, Any], table: str, **kw: Any) -> TableJob:
    return TableJob(
        "postgres", src, "postgres", dst, source_table=table, load_method="append", **kw
    )


def columns(props: dict[str, Any], table: str) -> dict[str, str]:
    return dict(
        pg_rows(
            props,
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_name = '{table}'",
        )
    )


def test_evolve_adds_columns_and_widens_types(src, dst):
    pg_exec(src, "CREATE TABLE ev (id integer, name varchar(5))", "INSERT INTO ev VALUES (1, 'a')")
    run_table_job(append(src, dst, "ev"))
    pg_exec(
        src,
        "ALTER TABLE ev ALTER COLUMN id TYPE bigint",
        "ALTER TABLE ev ALTER COLUMN name TYPE varchar(20)",
        "ALTER TABLE ev ADD COLUMN extra numeric(10,3)",
        "DELETE FROM ev",
        "INSERT INTO ev VALUES (5000000000, 'a longer name', 1.5)",
    )
    result = run_table_job(append(src, dst, "ev"))
    assert result.columns_added == ("extra",)
    assert set(result.columns_widened) == {"id", "name"}
    assert columns(dst, "ev") == {"id": "bigint", "name": "character varying", "extra": "numeric"}
    assert pg_rows(dst, "SELECT id, name, extra::text FROM ev ORDER BY id") == [
        (1, "a", None),
        (5000000000, "a longer name", "1.500"),
    ]


def test_freeze_ignores_new_columns(src, dst):
    pg_exec(src, "CREATE TABLE fr (id integer)", "INSERT INTO fr VALUES (1)")
    run_table_job(append(src, dst, "fr"))
    pg_exec(src, "ALTER TABLE fr ADD COLUMN extra text", "INSERT INTO fr VALUES (2, 'x')")
    run_table_job(append(src, dst, "fr", schema_drift="freeze"))
    assert columns(dst, "fr") == {"id": "integer"}
    assert pg_rows(dst, "SELECT count(*) FROM fr") == [(3,)]


def test_fail_policy_names_the_drifted_columns(src, dst):
    pg_exec(src, "CREATE TABLE fa (id integer)", "INSERT INTO fa VALUES (1)")
    run_table_job(append(src, dst, "fa"))
    before = pg_checksum(dst, "fa")
    pg_exec(src, "ALTER TABLE fa ADD COLUMN surprise text", "ALTER TABLE fa ADD COLUMN other int")
    with pytest.raises(JobFailed) as info:
        run_table_job(append(src, dst, "fa", schema_drift="fail"))
    message = str(info.value)
    assert "fa" in message and "'surprise'" in message and "'other'" in message
    assert isinstance(info.value.cause, SchemaDriftError)
    assert pg_checksum(dst, "fa") == before


def test_wrong_credentials_are_reported_as_authentication_failures(src, dst):
    bad = dict(src, username="no_such_role_hw")
    with pytest.raises(JobFailed) as info:
        run_table_job(TableJob("postgres", bad, "postgres", dst, source_table="fa"))
    assert isinstance(info.value.cause, AuthenticationFailed)
    assert "no_such_role_hw" in str(info.value) and "fa" in str(info.value)
    assert "authentication failed" in str(info.value)


def test_missing_table_is_named(src, dst):
    with pytest.raises(JobFailed) as info:
        run_table_job(TableJob("postgres", src, "postgres", dst, source_table="nope_missing"))
    assert isinstance(info.value.cause, ObjectNotFound)
    assert "nope_missing" in str(info.value) and "does not exist" in str(info.value)
    assert info.value.transient is False


def test_value_too_large_for_target_names_table_and_column(src, dst):
    pg_exec(
        src,
        "CREATE TABLE big (id integer, code text, amount numeric(20,2))",
        "INSERT INTO big VALUES (1, 'ok', 1), (2, 'much too long', 123456789012.5)",
    )
    pg_exec(dst, "CREATE TABLE big (id integer, code varchar(3), amount numeric(20,2))")
    with pytest.raises(JobFailed) as info:
        run_table_job(append(src, dst, "big", schema_drift="freeze"))
    assert isinstance(info.value.cause, ValueRejected)
    message = str(info.value)
    assert "big" in message and "too long" in message and "code" in message
    assert pg_rows(dst, "SELECT count(*) FROM big") == [(0,)]
