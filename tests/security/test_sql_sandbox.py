"""SQL steps reach their own database and nothing else of this host (no mocks: real engines).

Each SQL-capable connector runs the file and network functions of its engine through
``runner.sql_exec.execute_sql`` (what a logic ``sql`` step calls), with a data dir whose
``secret.key`` and ``headwater.db`` are the prizes: every attempt must fail and leave no file
behind, while ordinary SQL on the connection's own database keeps working.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pymysql
import pytest

from headwater.connectors.registry import default_registry
from headwater.runner.sql_exec import SqlFailed, SqlResult, execute_sql
from headwater.security import local_paths
from headwater.security.local_paths import LocalPathPolicy
from tests._services import require_service

KEY = "the-key-that-decrypts-every-secret"


@dataclass
class Host:
    data_dir: Path
    allowed: Path
    outside: Path  # a folder of this host outside every allowed folder

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    data_dir = tmp_path / "data"
    allowed = data_dir / "warehouse"
    outside = tmp_path / "outside"
    for folder in (allowed, outside, data_dir / "files"):
        folder.mkdir(parents=True)
    (data_dir / "secret.key").write_text(KEY)
    (outside / "plain.csv").write_text("a,b\n1,2\n")
    (outside / "plain.txt").write_text("outside text")
    pq.write_table(pa.table({"a": [1]}), outside / "plain.parquet")
    policy = LocalPathPolicy.build(
        data_dir, [allowed, data_dir / "files"], [data_dir / "secret.key"]
    )
    token = local_paths.set_policy(policy)
    yield Host(data_dir, allowed, outside)
    local_paths.reset_policy(token)


def run(kind: str, props: dict[str, object], sql: str) -> SqlResult:
    return execute_sql(default_registry(), kind, props, sql, threading.Event())


DUCKDB_ATTEMPTS = [
    "SELECT content FROM read_text('{key}')",
    "SELECT * FROM read_csv('{outside}/plain.csv')",
    "SELECT * FROM read_csv_auto('{outside}/plain.csv')",
    "SELECT * FROM read_parquet('{outside}/plain.parquet')",
    "SELECT * FROM read_blob('{key}')",
    "SELECT * FROM glob('{data_dir}/*')",
    "SELECT * FROM '{outside}/plain.csv'",
    "COPY (SELECT 'x' AS a) TO '{outside}/written.csv'",
    "COPY (SELECT 'x' AS a) TO '{data_dir}/written.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{outside}/export'",
    "ATTACH '{data_dir}/headwater.db' AS meta",
    "ATTACH '{outside}/other.duckdb' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "LOAD '{outside}/evil.duckdb_extension'",
    "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    "SELECT * FROM read_text('https://127.0.0.1:9/x')",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET GLOBAL enable_external_access = true",
    "SET allowed_directories = ['/']",
    "SET allow_unsigned_extensions = true",
    "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
]


@pytest.mark.parametrize("attempt", DUCKDB_ATTEMPTS)
def test_duckdb_sql_cannot_reach_files_network_or_extensions(host: Host, attempt: str) -> None:
    props = {"path": str(host.allowed / "own.duckdb")}
    sql = attempt.format(key=host.key_file, outside=host.outside, data_dir=host.data_dir)
    before = set(host.data_dir.parent.rglob("*"))
    with pytest.raises(SqlFailed) as failed:
        run("duckdb", props, sql)
    assert KEY not in str(failed.value)
    created = set(host.data_dir.parent.rglob("*")) - before
    assert all(p.parent == host.allowed for p in created), created  # own db file and its wal


def test_duckdb_settings_cannot_reopen_the_sandbox(host: Host) -> None:
    """Turning auto-loading back on or trying to re-enable access changes nothing."""
    props = {"path": str(host.allowed / "own.duckdb")}
    run("duckdb", props, "SET autoload_known_extensions = true")
    run("duckdb", props, "SET autoinstall_known_extensions = true")
    for sql in (
        f"SELECT content FROM read_text('{host.key_file}')",
        "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
    ):
        with pytest.raises(SqlFailed, match="disabled by configuration"):
            run("duckdb", props, sql)


def test_duckdb_own_database_still_works(host: Host) -> None:
    props = {"path": str(host.allowed / "own.duckdb")}
    run("duckdb", props, "CREATE TABLE t AS SELECT range AS n FROM range(5)")
    result = run("duckdb", props, "SELECT sum(n), current_setting('TimeZone') FROM t")
    assert result.rows == [(10, "UTC")]


def test_sanity_an_unsandboxed_duckdb_reads_the_key(host: Host) -> None:
    """The attack is real: plain DuckDB reads the key file (so the tests above can fail)."""
    import duckdb

    with duckdb.connect() as conn:
        row = conn.execute(f"SELECT content FROM read_text('{host.key_file}')").fetchone()
    assert row == (KEY,)


SQLITE_ATTEMPTS = [
    "ATTACH '{data_dir}/headwater.db' AS meta",
    "ATTACH '{outside}/other.db' AS other",
    "ATTACH 'file:{outside}/uri.db?mode=rwc' AS other",
    "VACUUM INTO '{outside}/copy.db'",
    "SELECT load_extension('{outside}/evil')",
    "PRAGMA temp_store_directory = '{outside}'",
    "DETACH main",
]


@pytest.mark.parametrize("attempt", SQLITE_ATTEMPTS)
def test_sqlite_sql_cannot_open_other_files(host: Host, attempt: str) -> None:
    props = {"path": str(host.allowed / "own.db")}
    run("sqlite", props, "CREATE TABLE IF NOT EXISTS t (a)")
    sql = attempt.format(data_dir=host.data_dir, outside=host.outside)
    with pytest.raises(SqlFailed, match=r"not authorized|authorization denied"):
        run("sqlite", props, sql)
    assert sorted(p.name for p in host.outside.iterdir()) == [
        "plain.csv",
        "plain.parquet",
        "plain.txt",
    ]


def test_sqlite_own_database_and_plain_vacuum_work(host: Host) -> None:
    props = {"path": str(host.allowed / "own.db")}
    run("sqlite", props, "CREATE TABLE t (a);\nINSERT INTO t VALUES (1), (2);")
    run("sqlite", props, "VACUUM")
    assert run("sqlite", props, "SELECT sum(a) FROM t").rows == [(3,)]


@pytest.mark.parametrize(
    "where",
    ["{data_dir}/headwater.db", "{data_dir}/secret.key", "{data_dir}/venvs/x.db", "{link}"],
)
@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_sql_steps_refuse_a_path_into_the_data_dir(host: Host, kind: str, where: str) -> None:
    """Also when the connection was saved before the rule (the check runs before opening)."""
    link = host.allowed / "innocent.db"
    link.symlink_to(host.data_dir / "headwater.db")
    path = where.format(data_dir=host.data_dir, link=link)
    with pytest.raises(SqlFailed, match="data dir"):
        run(kind, {"path": path}, "SELECT 1")
    assert not (host.data_dir / "headwater.db").exists()
    assert not (host.data_dir / "venvs").exists()


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_a_symlink_in_an_allowed_folder_cannot_lead_out(host: Host, kind: str) -> None:
    link = host.allowed / "elsewhere.db"
    link.symlink_to(host.outside / "target.db")
    with pytest.raises(SqlFailed, match="symlink"):
        run(kind, {"path": str(link)}, "SELECT 1")
    assert not (host.outside / "target.db").exists()


# -- MySQL / MariaDB ----------------------------------------------------------------------------


@pytest.fixture
def mysql_table() -> Iterator[dict[str, object]]:
    require_service("mysql")
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    with admin.cursor() as cursor:
        cursor.execute("CREATE DATABASE IF NOT EXISTS hw_sandbox")
        cursor.execute("DROP TABLE IF EXISTS hw_sandbox.loot")
        cursor.execute("CREATE TABLE hw_sandbox.loot (line TEXT)")
    props: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 3306,
        "database": "hw_sandbox",
        "username": "root",
        "password": "",
    }
    yield props
    with admin.cursor() as cursor:
        cursor.execute("DROP DATABASE hw_sandbox")
    admin.close()


def _loot(props: dict[str, object]) -> list[tuple[object, ...]]:
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT line FROM hw_sandbox.loot")
            return list(cursor.fetchall())
    finally:
        conn.close()


def test_mysql_load_data_local_infile_cannot_read_this_host(
    host: Host, mysql_table: dict[str, object]
) -> None:
    sql = f"LOAD DATA LOCAL INFILE '{host.key_file}' INTO TABLE loot"
    with pytest.raises(SqlFailed):
        run("mysql", mysql_table, sql)
    assert _loot(mysql_table) == []
    # Sanity: the same statement from a client that allows it does read the file.
    conn = pymysql.connect(
        host="127.0.0.1", user="root", password="", database="hw_sandbox", local_infile=True
    )
    try:
        with conn.cursor() as cursor:
            try:
                cursor.execute(sql)
            except pymysql.err.OperationalError:
                pytest.skip("this server refuses LOAD DATA LOCAL itself (local_infile=OFF)")
        conn.commit()
    finally:
        conn.close()
    assert _loot(mysql_table) == [(KEY,)]
