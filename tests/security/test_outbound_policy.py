"""The outbound policy on every path, against real servers on loopback.

Each finding of the review is reproduced the way it was found and shown closed:

1. production mode sent signed S3 requests to a loopback ``endpoint_url``;
2. ``100.64.0.0/10`` (``100.100.100.200``), ``192.0.0.0/24`` and the 6to4/NAT64 forms of private
   addresses passed the check;
3. a database connection test told an open private port from a closed one (API test in
   ``test_outbound_connection_test.py``).

Then every outbound path (actions and their OAuth token URLs, REST sources, webhooks, S3,
PostgreSQL, MariaDB, SQL steps) refuses loopback in production with nothing reaching the server,
still works when allow-listed, and connects to the address it checked (DNS rebinding).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.connectors.errors import ConfigurationError, ConnectorError
from headwater.connectors.registry import Registry, default_registry
from headwater.engine import TableJob, run_table_job
from headwater.runner.http_request import perform
from headwater.runner.sql_exec import SqlFailed, execute_sql
from headwater.runner.variables import Scope
from headwater.schemas.rivers_actions import ActionProperties
from headwater.security import ssrf
from headwater.security.ssrf import BlockedDestination, OutboundPolicy
from headwater.services.webhook_wire import send
from headwater.settings import Settings
from tests._services import MYSQL_HOST, require_service
from tests.security.outbound_help import HttpServer, http_server, moto_s3

BLOCKED = "blocked in production mode"
REGISTRY = Registry.default(plugins=False)


@pytest.fixture
def mode(monkeypatch: pytest.MonkeyPatch) -> Callable[..., OutboundPolicy]:
    """``mode("production", allow="...")``: the process settings every thread falls back to."""

    def set_mode(name: str, allow: str = "") -> OutboundPolicy:
        monkeypatch.setenv("HEADWATER_MODE", name)
        monkeypatch.setenv("HEADWATER_OUTBOUND_ALLOWLIST", allow)
        return OutboundPolicy.from_settings(Settings())

    return set_mode


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Names the policy resolves through a script: each lookup takes the next answer (the last
    one repeats), other names go to the real resolver. System DNS knows none of these names,
    so a client that reached the server did so through the address the policy checked."""
    answers: dict[str, list[list[str]]] = {}
    real = ssrf.resolve

    def scripted(host: str) -> list[str]:
        script = answers.get(host)
        if script is None:
            return real(host)
        return script.pop(0) if len(script) > 1 else script[0]

    monkeypatch.setattr(ssrf, "resolve", scripted)
    return answers


@pytest.fixture
def web() -> Iterator[HttpServer]:
    with http_server() as server:
        yield server


def _action(url: str, **extra: Any) -> ActionProperties:
    return ActionProperties.model_validate({"request": {"method": "GET", "url": url}, **extra})


def _perform(props: ActionProperties) -> int:
    outcome = perform(props, Scope({}), cancel=threading.Event(), log=lambda *_: None)
    return outcome.status


# -- finding 1: S3 endpoint_url ----------------------------------------------------------------


def _s3_props(endpoint: str, prefix: str) -> dict[str, Any]:
    return {
        "bucket": "hw-ssrf",
        "prefix": prefix,
        "endpoint_url": endpoint,
        "region": "eu-west-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
    }


def _copy_to_s3(tmp_path: Path, props: dict[str, Any]) -> None:
    source = tmp_path / "src"
    source.mkdir(exist_ok=True)
    (source / "orders.csv").write_text("id,amount\n1,2.5\n2,3.5\n")
    run_table_job(
        TableJob(
            "local_files",
            {"root": str(source)},
            "s3",
            props,
            source_table="orders.csv",
            target_table="orders",
        )
    )


def test_finding_1_s3_endpoint_on_loopback_receives_nothing_in_production(
    tmp_path: Path, mode: Callable[..., OutboundPolicy]
) -> None:
    with moto_s3() as s3:
        props = _s3_props(s3.url, "p")
        mode("production")
        with pytest.raises(ConfigurationError, match=BLOCKED):
            REGISTRY.open_target("s3", props)
        with pytest.raises(ConnectorError, match=BLOCKED):
            _copy_to_s3(tmp_path, props)
        assert s3.requests == []

        mode("production", "127.0.0.0/8")  # allow-listed: it works
        target = REGISTRY.open_target("s3", props)
        target.storage.fs.makedirs("hw-ssrf", exist_ok=True)  # type: ignore[attr-defined]
        target.close()
        _copy_to_s3(tmp_path, props)
        assert any(r.startswith("PUT /hw-ssrf/p/orders/") for r in s3.requests)


def test_s3_connections_go_to_the_checked_address(
    tmp_path: Path, mode: Callable[..., OutboundPolicy], fake_dns: dict[str, list[list[str]]]
) -> None:
    with moto_s3() as s3:
        endpoint = f"http://rebinding-s3-endpoint:{s3.port}"
        fake_dns["rebinding-s3-endpoint"] = [["127.0.0.1"]]
        mode("production", "127.0.0.0/8")
        props = _s3_props(endpoint, "pinned")
        target = REGISTRY.open_target("s3", props)
        target.storage.fs.makedirs("hw-ssrf", exist_ok=True)  # type: ignore[attr-defined]
        target.close()
        _copy_to_s3(tmp_path, props)
        assert any(r.startswith("PUT /hw-ssrf/pinned/") for r in s3.requests)

        # Checked public when opened, loopback when the client resolves: refused at connect.
        s3.requests.clear()
        mode("production")
        # (Two checks when opened: the connection's properties, then the endpoint itself.)
        fake_dns["rebinding-s3-endpoint"] = [["93.184.216.34"], ["93.184.216.34"], ["127.0.0.1"]]
        target = REGISTRY.open_target("s3", _s3_props(endpoint, "rebound"))
        with pytest.raises(Exception, match=BLOCKED):
            target.storage.fs.ls("hw-ssrf")  # type: ignore[attr-defined]
        target.close()
        assert s3.requests == []


# -- finding 2: special-purpose ranges that passed ---------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud metadata
        "http://100.64.0.1/",
        "http://192.0.0.170/",
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::127.0.0.1]/",
        "http://[2001::1]/",  # Teredo
    ],
)
def test_finding_2_special_purpose_ranges_are_blocked(url: str) -> None:
    policy = OutboundPolicy.from_settings(Settings(mode="production"))
    with pytest.raises(BlockedDestination, match="HEADWATER_OUTBOUND_ALLOWLIST"):
        policy.check(url)
    with pytest.raises(BlockedDestination):  # also when a name resolves there
        policy.check("https://public.example/", lambda _host: [url.split("/")[2].strip("[]")])


# -- every HTTP path ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "LOCALHOST.",
        "127.1",
        "2130706433",
        "0x7f.1",
        "0x7f000001",
        "0177.0.0.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::1]",
    ],
)
def test_actions_refuse_loopback_in_every_spelling(
    host: str, web: HttpServer, mode: Callable[..., OutboundPolicy]
) -> None:
    mode("production")
    # httpx itself rejects some spellings (``0177.0.0.1``); either way nothing leaves.
    with pytest.raises((BlockedDestination, httpx.InvalidURL)):
        _perform(_action(f"http://{host}:{web.port}/data"))
    assert web.requests == []


def test_action_oauth_token_url_is_checked(
    web: HttpServer, mode: Callable[..., OutboundPolicy]
) -> None:
    auth = {
        "type": "oauth2_client_credentials",
        "token_url": f"{web.url}/token",
        "client_id": "id",
        "client_secret": "secret",
    }
    props = _action(f"{web.url}/data", auth=auth)
    mode("production")
    with pytest.raises(BlockedDestination):
        _perform(props)
    assert web.requests == []
    mode("production", "127.0.0.1/32")
    assert _perform(props) == 200
    assert web.requests == ["POST /token", "GET /data"]


def test_actions_connect_to_the_checked_address(
    web: HttpServer, mode: Callable[..., OutboundPolicy], fake_dns: dict[str, list[list[str]]]
) -> None:
    fake_dns["api.rebind.test"] = [["127.0.0.1"]]
    mode("production", "127.0.0.0/8")
    assert _perform(_action(f"http://api.rebind.test:{web.port}/data")) == 200
    # Public for the request check, loopback by the time the connection is made.
    mode("production")
    fake_dns["api.rebind.test"] = [["93.184.216.34"], ["127.0.0.1"]]
    with pytest.raises(BlockedDestination):
        _perform(_action(f"http://api.rebind.test:{web.port}/again"))
    assert web.requests == ["GET /data"]


def test_redirect_hops_are_checked(web: HttpServer, mode: Callable[..., OutboundPolicy]) -> None:
    mode("production", "localhost")  # the name is allowed, 127.0.0.1 is not
    with pytest.raises(BlockedDestination):
        _perform(_action(f"http://localhost:{web.port}/hop"))
    assert web.requests == ["GET /hop"]


def test_rest_source_base_and_token_urls(
    web: HttpServer, mode: Callable[..., OutboundPolicy], fake_dns: dict[str, list[list[str]]]
) -> None:
    fake_dns["api.example.com"] = [["93.184.216.34"]]  # checked, never contacted
    props = {"base_url": web.url, "max_retries": 0}
    oauth = {
        "base_url": "https://api.example.com",
        "auth_type": "oauth2_client_credentials",
        "token_url": f"{web.url}/token",
        "client_id": "id",
        "client_secret": "s",
    }
    mode("production")
    for case in (props, oauth):
        with pytest.raises(ConfigurationError, match=BLOCKED):
            REGISTRY.open_source("http", case)
    assert web.requests == []
    mode("production", "127.0.0.0/8")
    source = REGISTRY.open_source("http", props)
    source.test()
    source.close()
    assert web.requests


def test_webhook_sends_are_pinned(
    web: HttpServer, mode: Callable[..., OutboundPolicy], fake_dns: dict[str, list[list[str]]]
) -> None:
    fake_dns["hooks.rebind.test"] = [["127.0.0.1"]]
    url = f"http://hooks.rebind.test:{web.port}/hook"
    refused = send(url, b"{}", {}, mode("production"))
    assert refused.status_code is None and BLOCKED in str(refused.error)
    assert web.requests == []
    delivered = send(url, b"{}", {}, mode("production", "127.0.0.0/8"))
    assert delivered.status_code == 200
    assert web.requests == ["POST /hook"]


# -- databases ---------------------------------------------------------------------------------


def _pg(host: str = "127.0.0.1") -> dict[str, Any]:
    return {"host": host, "port": 5432, "database": "postgres", "username": "postgres"}


def _mysql(host: str = MYSQL_HOST) -> dict[str, Any]:
    return {"host": host, "port": 3306, "database": "mysql", "username": "root"}


@pytest.mark.parametrize(("kind", "props"), [("postgres", _pg), ("mysql", _mysql)])
def test_databases_on_loopback_are_refused_in_production(
    kind: str, props: Callable[..., dict[str, Any]], mode: Callable[..., OutboundPolicy]
) -> None:
    require_service(kind)
    mode("production")
    for host in ("127.0.0.1", "localhost", "2130706433", "::1", "/var/run/postgresql", "a,b"):
        with pytest.raises(ConfigurationError, match="production mode"):
            REGISTRY.open_source(kind, props(host))
    with pytest.raises(SqlFailed, match=BLOCKED):
        execute_sql(REGISTRY, kind, props(), "SELECT 1", threading.Event())
    mode("development")
    assert execute_sql(REGISTRY, kind, props(), "SELECT 1", threading.Event()).rows == [(1,)]


def test_postgres_connects_to_the_checked_address(
    mode: Callable[..., OutboundPolicy], fake_dns: dict[str, list[list[str]]]
) -> None:
    require_service("postgres")
    fake_dns["pg.rebind.test"] = [["127.0.0.1"]]
    mode("production", "127.0.0.0/8")
    props = _pg("pg.rebind.test")
    assert execute_sql(
        default_registry(), "postgres", props, "SELECT 1", threading.Event()
    ).rows == [(1,)]
    import adbc_driver_postgresql.dbapi as adbc

    from headwater.connectors.postgres.conn import adbc_uri

    with adbc.connect(adbc_uri(props)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_mysql_connects_to_the_checked_address(
    mode: Callable[..., OutboundPolicy], fake_dns: dict[str, list[list[str]]]
) -> None:
    require_service("mysql")
    fake_dns["db.rebind.test"] = [["127.0.0.1"]]
    mode("production", "127.0.0.0/8")
    props = _mysql("db.rebind.test")
    assert execute_sql(REGISTRY, "mysql", props, "SELECT 1", threading.Event()).rows == [(1,)]
    source = REGISTRY.open_source("mysql", props)
    source.test()
    source.close()


# -- SQL that names a URL ----------------------------------------------------------------------


def test_duckdb_sql_cannot_reach_out_in_production(
    tmp_path: Path, web: HttpServer, mode: Callable[..., OutboundPolicy]
) -> None:
    """DuckDB fetches URLs named in SQL (auto-installing httpfs) and installs extensions from
    any repository: in production its external access is off, and SQL cannot turn it back on."""
    props = {"path": str(tmp_path / "steps.duckdb")}
    mode("production")
    for sql in (
        f"SELECT * FROM read_text('{web.url}/meta')",
        f"INSTALL httpfs FROM '{web.url}/repo'",
        "SET enable_external_access = true",
    ):
        with pytest.raises(SqlFailed, match=r"disabled|Cannot enable"):
            execute_sql(REGISTRY, "duckdb", props, sql, threading.Event())
    assert web.requests == []
    assert execute_sql(
        default_registry(), "duckdb", props, "SELECT 42", threading.Event()
    ).rows == [(42,)]
    target = REGISTRY.open_target("duckdb", props)
    target.test()
    target.close()
