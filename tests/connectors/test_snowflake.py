"""Snowflake as a target and a source, against fakesnow's HTTP server (its own venv and process).

The real ``snowflake-connector-python`` talks to the server over HTTP on loopback; nothing is
patched in-process. These are the conformance checks for Snowflake (the shared helpers of
``conformance.py``), plus what is Snowflake's own: which publish path ran, the
upper-case naming convention, failures and a killed process mid-load, SQL statements.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from typing import Any

import pytest

from headwater.connectors.errors import ConfigurationError, JobFailed
from headwater.connectors.registry import Registry
from headwater.connectors.snowflake.conn import connect_args
from headwater.security.ssrf import OutboundPolicy, reset_policy, set_policy
from tests.connectors import snowflake_kit as kit
from tests.connectors.conformance import (
    copy,
    pg_checksum,
    pg_exec,
    pg_rows,
    zoo_columns,
    zoo_digest,
)
from tests.connectors.snowflake_kit import KIND, add_inc_rows, sf_rows

pytestmark = pytest.mark.postgres

# the kit's module-scoped fixtures: a fakesnow server, a database on it, the PostgreSQL hub
hub, port, sf = kit.hub, kit.port, kit.sf


def there_and_back(hub: dict[str, Any], sf: dict[str, Any], table: str, back: str, **kw: Any):
    out = copy("postgres", hub, KIND, sf, table, back, **kw)
    home = copy(KIND, sf, "postgres", hub, back, back)
    return out, home


def test_type_zoo_round_trip_is_exact(hub, sf):
    columns = tuple(zoo_columns(KIND))
    out, home = there_and_back(hub, sf, "zoo", "zoo_sf", columns=columns)
    assert out.rows == home.rows == 4
    original = zoo_digest(hub, "zoo", KIND, side=0)
    returned = zoo_digest(hub, "zoo_sf", KIND, side=1)
    assert [n for n in original if original[n] != returned[n]] == []
    types = dict(
        sf_rows(
            sf,
            f'SELECT COLUMN_NAME, DATA_TYPE FROM "{sf["database"].upper()}".INFORMATION_SCHEMA'
            ".COLUMNS WHERE TABLE_NAME = 'ZOO_SF'",
        )
    )
    assert types["C_JSONB"] == "VARIANT" and types["C_TSTZ"] == "TIMESTAMP_TZ"
    assert types["C_TS"] == "TIMESTAMP_NTZ" and types["C_BYTEA"] == "BINARY"
    assert types["C_NUM"] == "NUMBER" and types["C_BIGNUM"] in ("TEXT", "VARCHAR")


def test_interval_is_refused_naming_the_column(hub, sf):
    with pytest.raises(JobFailed, match=r"c_interval.*interval") as refused:
        copy("postgres", hub, KIND, sf, "zoo", "interval_sf", columns=("id", "c_interval"))
    assert refused.value.transient is False


@pytest.mark.slow
def test_empty_wide_and_unicode_tables(hub, sf):
    pg_exec(hub, "CREATE TABLE IF NOT EXISTS empty_src (id bigint, label text, at timestamptz)")
    out, home = there_and_back(hub, sf, "empty_src", "empty_sf")
    assert (out.rows, home.rows) == (0, 0)
    names = pg_rows(
        hub,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'empty_sf' "
        "ORDER BY 1",
    )
    assert [r[0] for r in names] == ["at", "id", "label"]

    columns = ", ".join(f"c{i:03d} {'text' if i % 2 else 'bigint'}" for i in range(320))
    values = ", ".join(f"'v{i}'" if i % 2 else str(i) for i in range(320))
    pg_exec(
        hub,
        "DROP TABLE IF EXISTS wide",
        f"CREATE TABLE wide ({columns})",
        f"INSERT INTO wide VALUES ({values}), ({values})",
    )
    there_and_back(hub, sf, "wide", "wide_sf")
    assert pg_checksum(hub, "wide_sf") == pg_checksum(hub, "wide")

    pg_exec(
        hub,
        'DROP TABLE IF EXISTS "we""ird;tablé 名"',
        'CREATE TABLE "we""ird;tablé 名" ("naïve 列" text, "a""b;c" int, "select" int, "x`y" text)',
        "INSERT INTO \"we\"\"ird;tablé 名\" VALUES ('ü', 1, 2, 'DROP TABLE x; --')",
    )
    there_and_back(hub, sf, 'we"ird;tablé 名', 'ret;sf"名')
    assert pg_checksum(hub, '"ret;sf""名"') == pg_checksum(hub, '"we""ird;tablé 名"')


def test_names_follow_snowflakes_upper_case_convention(hub, sf):
    pg_exec(hub, 'CREATE TABLE IF NOT EXISTS orders (order_id int, "Mixed" text)')
    pg_exec(hub, "TRUNCATE orders", "INSERT INTO orders VALUES (1, 'a')")
    copy("postgres", hub, KIND, sf, "orders", "orders")
    # unquoted names resolve, as Snowflake users write them; mixed case stays exact
    assert sf_rows(sf, 'SELECT order_id, "Mixed" FROM hw_data.orders') == [(1, "a")]
    # (fakesnow's DuckDB compares names case-insensitively, so the exact copy gets another name)
    preserve = {**sf, "identifier_case": "preserve", "schema": "HW_DATA"}
    preserve["database"] = sf["database"].upper()
    copy("postgres", hub, KIND, preserve, "orders", "orders_exact")
    assert sf_rows(sf, 'SELECT "order_id" FROM hw_data."orders_exact"') == [(1,)]


@pytest.mark.parametrize("method", ["overwrite", "append", "merge"])
def test_load_methods_reruns_and_the_publish_path(hub, sf, method, caplog):
    pg_exec(
        hub,
        "CREATE TABLE IF NOT EXISTS lm (id int PRIMARY KEY, v text, n numeric(9,2))",
        "TRUNCATE lm",
        "INSERT INTO lm SELECT g, 'v' || g, g / 4.0 FROM generate_series(1, 50) g",
    )
    table = f"lm_{method}"
    kw: dict[str, Any] = {"load_method": method}
    if method == "merge":
        kw["merge_keys"] = ("id",)
    caplog.set_level(logging.INFO, logger="headwater.connectors.snowflake.target")
    copy("postgres", hub, KIND, sf, "lm", table, **kw)
    pg_exec(
        hub, "UPDATE lm SET v = 'changed' WHERE id <= 5", "INSERT INTO lm VALUES (51, 'new', 1)"
    )
    copy("postgres", hub, KIND, sf, "lm", table, **kw)
    copy("postgres", hub, KIND, sf, "lm", table, **kw)
    expected = {"overwrite": 51, "append": 50 + 51 + 51, "merge": 51}[method]
    assert sf_rows(sf, f"SELECT COUNT(*) FROM hw_data.{table}") == [(expected,)]
    copy(KIND, sf, "postgres", hub, table, table)
    if method != "append":
        assert pg_checksum(hub, table) == pg_checksum(hub, "lm")
    # which way the rows were published: fakesnow has no ALTER TABLE ... SWAP WITH, so a full
    # overwrite detects that and takes the transactional DELETE + INSERT path
    path = {"overwrite": "delete_insert", "append": "insert", "merge": "merge"}[method]
    published = [r.getMessage() for r in caplog.records if "published" in r.getMessage()]
    assert published and all(m.endswith(f"by {path}") for m in published), published
    if method == "overwrite":
        refusals = [r.getMessage() for r in caplog.records if "SWAP WITH" in r.getMessage()]
        assert refusals, "the SWAP capability was not probed"


def test_custom_query_source_and_discover(hub, sf):
    copy("postgres", hub, KIND, sf, "zoo", "disc", columns=("id", "c_text", "c_tstz"))
    source = Registry.default(plugins=False).open_source(KIND, sf)
    try:
        tables = {t.ref.name: t for t in source.discover("hw_data")}
        source.test()
    finally:
        source.close()
    assert [c.name for c in tables["disc"].columns] == ["id", "c_text", "c_tstz"]
    result = copy(
        KIND,
        sf,
        "postgres",
        hub,
        None,
        "from_query",
        source_query="SELECT id, c_tstz FROM hw_data.disc WHERE id < 3",
    )
    assert result.rows == 2
    assert pg_rows(hub, "SELECT id, c_tstz::text FROM from_query ORDER BY id") == [
        (1, "2024-02-29 10:34:56.123456+00"),
        (2, "1970-01-01 00:00:00+00"),
    ]


def test_incremental_source_reads_only_new_rows(hub, sf):
    pg_exec(
        hub, "DROP TABLE IF EXISTS inc_s", "CREATE TABLE inc_s (id int, at timestamptz, v text)"
    )
    add_inc_rows(hub, "inc_s", 1, 20)
    copy("postgres", hub, KIND, sf, "inc_s", "inc_s")
    kw = dict(extract_method="incremental", cursor_column="at", cursor_type="timestamp")
    first = copy(KIND, sf, "postgres", hub, "inc_s", "inc_s_back", load_method="append", **kw)
    add_inc_rows(hub, "inc_s", 21, 25)
    copy("postgres", hub, KIND, sf, "inc_s", "inc_s")
    second = copy(KIND, sf, "postgres", hub, "inc_s", "inc_s_back", load_method="append", **kw)
    assert (first.rows, second.rows) == (20, 5)
    assert second.cursor_value == "2024-01-01T00:00:25.000025+00:00"
    assert pg_checksum(hub, "inc_s_back") == pg_checksum(hub, "inc_s")


def test_sql_statements_run_through_the_registry(sf):
    runner = Registry.default(plugins=False).open_statements(KIND, sf)
    result = runner.execute(
        "CREATE TABLE IF NOT EXISTS hw_data.step (n int); INSERT INTO hw_data.step VALUES (1), "
        "(2); SELECT SUM(n) AS total FROM hw_data.step // a Snowflake comment",
        threading.Event(),
    )
    assert result.columns == ["TOTAL"] and result.rows == [(3,)]


def test_outbound_policy_refuses_a_private_host_in_production(sf):
    token = set_policy(OutboundPolicy(True, frozenset(), ()))
    try:
        with pytest.raises(ConfigurationError, match="blocked in production mode"):
            Registry.default(plugins=False).open_target(KIND, sf)
    finally:
        reset_policy(token)
    # allowed by range: the driver is handed the checked address (http), and connects
    allowed = set_policy(OutboundPolicy(True, frozenset(), (ipaddress.ip_network("127.0.0.0/8"),)))
    try:
        assert connect_args({**sf, "host": "localhost"})["host"] == "127.0.0.1"
        Registry.default(plugins=False).open_target(KIND, {**sf, "host": "localhost"}).test()
    finally:
        reset_policy(allowed)


def test_key_pair_auth_and_missing_credentials_are_checked_before_connecting():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass phrase"),
    ).decode()
    base = {"account": "xy12345.eu-central-1", "user": "loader", "database": "analytics"}
    args = connect_args({**base, "private_key": pem, "private_key_passphrase": "pass phrase"})
    assert args["authenticator"] == "SNOWFLAKE_JWT" and "password" not in args
    assert args["private_key"] == key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert args["host"] == "xy12345.eu-central-1.snowflakecomputing.com"
    assert (args["database"], args["schema"], args["protocol"]) == ("ANALYTICS", "PUBLIC", "https")
    with pytest.raises(ConfigurationError, match="passphrase is wrong") as wrong:
        connect_args({**base, "private_key": pem, "private_key_passphrase": "nope"})
    assert "BEGIN" not in str(wrong.value)
    with pytest.raises(ConfigurationError, match="needs a password or a private_key"):
        connect_args(base)
