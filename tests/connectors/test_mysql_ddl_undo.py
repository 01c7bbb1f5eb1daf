"""A failed MySQL/MariaDB load leaves the target exactly as it was, DDL included.

MariaDB commits DDL on its own, so the target runs it before the load transaction and undoes
it when the load fails. Each case snapshots the target database (every table's
``SHOW CREATE TABLE`` and rows), injects a failure *after* the DDL, and compares.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pytest

from headwater.connectors.base import ConnectorSpec, Loader, LoadPlan, PropertySpec
from headwater.connectors.errors import JobFailed
from headwater.connectors.mysql.ddl import column_definition
from headwater.connectors.mysql.spec import spec as mysql_spec
from headwater.connectors.mysql.target import MySQLLoader, MySQLTarget
from headwater.connectors.registry import Registry
from headwater.engine import TableJob, run_table_job

try:
    from tests.connectors.dbkit import (
        mysql_connect,
        mysql_database,
        mysql_exec,
        mysql_rows,
        pg_database,
        pg_exec,
    )
except ImportError:
    from connectors.dbkit import (  # type: ignore
        mysql_connect,
        mysql_database,
        mysql_exec,
        mysql_rows,
        pg_database,
        pg_exec,
    )

pytestmark = pytest.mark.mysql


class InjectedFailure(RuntimeError):
    """Raised by the faulty loader only."""


class FaultyMySQLLoader(MySQLLoader):
    """The real loader, failing after its first batch or after publishing the rows."""

    fail_at = ""

    def write(self, batch: pa.RecordBatch) -> None:
        super().write(batch)
        if self.fail_at == "write":
            raise InjectedFailure("injected failure after the first batch")

    def _publish(self) -> None:
        super()._publish()
        if self.fail_at == "after_publish":
            raise InjectedFailure("injected failure after publishing, before COMMIT")


class FaultyMySQLTarget(MySQLTarget):
    def __init__(self, props: dict[str, Any]) -> None:
        props = dict(props)
        self.fail_at = str(props.pop("fail_at", ""))
        super().__init__(props)

    def begin(self, plan: LoadPlan) -> Loader:
        loader = FaultyMySQLLoader(self, plan)
        loader.fail_at = self.fail_at
        self._loaders.append(loader)
        return loader


def faulty_registry() -> Registry:
    base: ConnectorSpec = mysql_spec()
    registry = Registry.default(plugins=False)
    registry.register(
        replace(
            base,
            name="faulty_mysql",
            properties=(*base.properties, PropertySpec("fail_at", "string")),
            target_class=f"{__name__}:FaultyMySQLTarget",
        )
    )
    return registry


@pytest.fixture(scope="module")
def dbs() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    with mysql_database("undo_src") as src, mysql_database("undo_tgt") as tgt:
        yield src, tgt


def snapshot(props: dict[str, Any]) -> dict[str, tuple[str, list[tuple[Any, ...]]]]:
    """Every table of the database: its definition and its rows, sorted."""
    tables = [row[0] for row in mysql_rows(props, "SHOW TABLES")]
    shot = {}
    for table in sorted(tables):
        create = str(mysql_rows(props, f"SHOW CREATE TABLE `{table}`")[0][1])
        rows = sorted(mysql_rows(props, f"SELECT * FROM `{table}`"), key=repr)
        shot[table] = (create, rows)
    return shot


def fail_copy(src: dict[str, Any], tgt: dict[str, Any], fail_at: str, **kw: Any) -> JobFailed:
    job = TableJob("mysql", src, "faulty_mysql", dict(tgt, fail_at=fail_at), **kw)
    with pytest.raises(JobFailed) as info:
        run_table_job(job, registry=faulty_registry())
    return info.value


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_new_table_and_state_table_are_dropped_when_the_first_load_fails(dbs):
    src, tgt = dbs
    name = unique("fresh")
    mysql_exec(src, f"CREATE TABLE {name} (id int PRIMARY KEY, v varchar(10))")
    mysql_exec(src, f"INSERT INTO {name} VALUES (1, 'a'), (2, 'b')")
    before = snapshot(tgt)
    error = fail_copy(src, tgt, "write", source_table=name, load_method="append")
    assert "injected failure" in str(error)
    assert snapshot(tgt) == before
    assert name not in before and "_headwater_state" not in before


def test_created_database_is_dropped_when_the_load_fails(dbs):
    src, tgt = dbs
    name, schema = unique("indb"), unique("hw_test_newdb")
    mysql_exec(src, f"CREATE TABLE {name} (id int PRIMARY KEY)", f"INSERT INTO {name} VALUES (1)")
    try:
        fail_copy(src, tgt, "after_publish", source_table=name, target_schema=schema)
        schemas = mysql_rows(
            tgt, f"SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{schema}'"
        )
        assert schemas == []
    finally:
        with mysql_connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{schema}`")


@pytest.mark.parametrize(
    ("method", "fail_at"),
    [("append", "write"), ("merge", "after_publish"), ("overwrite", "after_publish")],
)
def test_drift_column_is_dropped_and_rows_kept(dbs, method, fail_at):
    src, tgt = dbs
    name = unique(f"drift_{method}")
    mysql_exec(
        tgt,
        f"CREATE TABLE {name} (id int PRIMARY KEY, v varchar(10))",
        f"INSERT INTO {name} VALUES (1, 'old'), (5, 'keep')",
    )
    mysql_exec(
        src,
        f"CREATE TABLE {name} (id int PRIMARY KEY, v varchar(10), added_col decimal(12,3))",
        f"INSERT INTO {name} VALUES (1, 'new', 1.5), (2, 'two', NULL)",
    )
    before = snapshot(tgt)
    keys = ("id",) if method == "merge" else ()
    error = fail_copy(src, tgt, fail_at, source_table=name, load_method=method, merge_keys=keys)
    assert "injected failure" in str(error)
    after = snapshot(tgt)
    assert after == before
    assert "added_col" not in after[name][0]


def test_widened_column_gets_its_full_former_definition_back(dbs):
    src, tgt = dbs
    name = unique("widen")
    mysql_exec(
        tgt,
        f"CREATE TABLE {name} (id int PRIMARY KEY, "
        "n int NOT NULL DEFAULT 7 COMMENT 'keep me', s varchar(5) CHARACTER SET latin1)",
        f"INSERT INTO {name} VALUES (1, 10, 'abc')",
    )
    mysql_exec(
        src,
        f"CREATE TABLE {name} (id int PRIMARY KEY, n bigint NOT NULL, s varchar(40))",
        f"INSERT INTO {name} VALUES (2, 9000000000, 'a much longer text value')",
    )
    before = snapshot(tgt)
    fail_copy(src, tgt, "after_publish", source_table=name, load_method="merge", merge_keys=("id",))
    assert snapshot(tgt) == before
    create = before[name][0]
    assert column_definition(create, "n") == "`n` int(11) NOT NULL DEFAULT 7 COMMENT 'keep me'"


def test_value_rejected_by_the_target_after_ddl_leaves_it_unchanged(dbs):
    """No fault injector: the target's own NOT NULL constraint fails the publish."""
    src, tgt = dbs
    name = unique("strict")
    mysql_exec(
        tgt,
        f"CREATE TABLE {name} (id int PRIMARY KEY, v int NOT NULL)",
        f"INSERT INTO {name} VALUES (1, 1)",
    )
    mysql_exec(
        src,
        f"CREATE TABLE {name} (id int PRIMARY KEY, v int, note text)",
        f"INSERT INTO {name} VALUES (2, NULL, 'new column')",
    )
    before = snapshot(tgt)
    job = TableJob("mysql", src, "mysql", tgt, source_table=name, load_method="append")
    with pytest.raises(JobFailed) as info:
        run_table_job(job)
    assert "cannot be null" in str(info.value).lower()
    assert snapshot(tgt) == before


def test_a_successful_load_keeps_its_ddl(dbs):
    src, tgt = dbs
    name = unique("ok")
    mysql_exec(tgt, f"CREATE TABLE {name} (id int PRIMARY KEY)", f"INSERT INTO {name} VALUES (1)")
    mysql_exec(
        src,
        f"CREATE TABLE {name} (id int PRIMARY KEY, extra varchar(3))",
        f"INSERT INTO {name} VALUES (2, 'x')",
    )
    run_table_job(TableJob("mysql", src, "mysql", tgt, source_table=name, load_method="append"))
    assert mysql_rows(tgt, f"SELECT id, extra FROM {name} ORDER BY id") == [(1, None), (2, "x")]


def test_ddl_left_by_a_killed_process_is_reconciled_by_the_next_run(dbs, monkeypatch):
    """The documented limit: no undo ran (the process died), the next run just goes on."""
    from headwater.connectors.mysql.ddl import DdlJournal

    src, tgt = dbs
    name = unique("killed")
    mysql_exec(tgt, f"CREATE TABLE {name} (id int PRIMARY KEY, n int)")
    mysql_exec(tgt, f"INSERT INTO {name} VALUES (1, 1)")
    mysql_exec(
        src,
        f"CREATE TABLE {name} (id int PRIMARY KEY, n bigint, late varchar(8))",
        f"INSERT INTO {name} VALUES (2, 5000000000, 'new')",
    )
    with monkeypatch.context() as patch:
        patch.setattr(DdlJournal, "rollback", lambda self: None)
        fail_copy(src, tgt, "write", source_table=name, load_method="append")
    left = mysql_rows(tgt, f"SHOW CREATE TABLE {name}")[0][1]
    assert "`late` varchar(8)" in left and "`n` bigint(20)" in left
    run_table_job(TableJob("mysql", src, "mysql", tgt, source_table=name, load_method="append"))
    assert mysql_rows(tgt, f"SELECT id, n, late FROM {name} ORDER BY id") == [
        (1, 1, None),
        (2, 5000000000, "new"),
    ]


def test_a_failed_alter_undoes_the_alters_before_it(dbs):
    """The second ADD COLUMN exceeds MySQL's 65,535-byte row size: the first one is undone."""
    _, tgt = dbs
    name = unique("rowsize")
    mysql_exec(tgt, f"CREATE TABLE {name} (id int PRIMARY KEY)", f"INSERT INTO {name} VALUES (1)")
    before = snapshot(tgt)
    with pg_database("undo_pg") as pg:
        pg_exec(
            pg,
            f"CREATE TABLE {name} (id int PRIMARY KEY, x varchar(10000), y varchar(10000))",
            f"INSERT INTO {name} VALUES (2, 'x', 'y')",
        )
        job = TableJob("postgres", pg, "mysql", tgt, source_table=name, load_method="append")
        with pytest.raises(JobFailed) as info:
            run_table_job(job)
    assert "row size too large" in str(info.value).lower()
    assert snapshot(tgt) == before
