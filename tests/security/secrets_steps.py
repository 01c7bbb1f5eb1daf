"""Steps of the secrets scenario (``test_secrets_scenario.py``) that create things: the
deployment's API client, environment variables, connections, rivers of every kind with
secrets in every place a secret goes, their runs, and client mistakes that carry secrets."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from headwater.security.crypto import MASK
from headwater.security.scopes import ALL_SCOPES
from tests.live import Cluster
from tests.security.secrets_world import ConnectionCase, Echo, Recording, Secrets

SECRET_KEY = "secrets-scenario-key-not-for-production"
ADMIN_PASSWORD = "admin-password"
FINAL = {"succeeded", "failed", "canceled", "skipped", "partially succeeded"}
Corpus = list[tuple[str, str]]


class World:
    """The live deployment, its API client, and the ids the scenario created."""

    def __init__(self, cluster: Cluster, url: str, echo: Echo, secrets: Secrets) -> None:
        self.cluster = cluster
        self.url = url
        self.echo = echo
        self.secrets = secrets
        self.corpus: Corpus = []
        self.token = cluster.token(*sorted(ALL_SCOPES))
        self.api = Recording(
            url, self.corpus, headers={"Authorization": f"Bearer {self.token['token']}"}
        )
        self.account = self.token["account_id"]
        self.env = self.token["environment_id"]
        self.prefix = f"/v1/accounts/{self.account}/environments/{self.env}"
        self.connections: dict[str, str] = {}
        self.rivers: dict[str, str] = {}
        self.expected: dict[str, str] = {}
        self.runs: list[dict[str, Any]] = []

    def call(self, method: str, path: str, expect: int | None = 200, **kw: Any) -> Any:
        return self.api.request(method, self.prefix + path, expect, **kw)

    def river(self, body: dict[str, Any], expected: str) -> str:
        created = self.call("POST", "/rivers", 201, json=body)
        self.rivers[body["name"]] = created["river_id"]
        self.expected[body["name"]] = expected
        return str(created["river_id"])


# -- create and test -----------------------------------------------------------------------------


def _private(value: Any) -> dict[str, Any]:
    return {"value": value, "is_private": True}


def set_environment_variables(w: World) -> None:
    s = w.secrets
    body = {
        "variables": [
            {"name": "env_token", "value": s.new("env variable env_token"), "is_private": True},
            {
                "name": "env_codes",
                "value": [s.new("env variable env_codes[0]"), s.new("env variable env_codes[1]")],
                "is_private": True,
            },
            {"name": "region", "value": "north"},
        ]
    }
    shown = w.call("PUT", "/variables", json=body)
    assert {v["name"]: v["value"] for v in shown["items"]}["env_token"] == MASK
    # Sending the masks back keeps the values (checked in the database at the end).
    private = [v for v in shown["items"] if v["is_private"]]
    kept = [{k: v[k] for k in ("name", "value", "is_private")} for v in private]
    w.call("PUT", "/variables", json={"variables": kept})


def create_connections(w: World, cases: list[ConnectionCase]) -> int:
    """Create, read back, replace with the masks, test; returns the failed tests' count."""
    failed = 0
    for case in cases:
        body = {
            "connection_name": case.name,
            "connection_type": case.connection_type,
            "properties": case.properties,
        }
        created = w.call("POST", "/connections", 201, json=body)
        assert {k for k, v in created["properties"].items() if v == MASK} == case.secret_names
        w.connections[case.name] = created["connection_id"]
        path = f"/connections/{created['connection_id']}"
        shown = w.call("GET", path)
        w.call("PUT", path, json=shown)
        result = w.call("POST", f"{path}/test")
        if case.test_ok is not None:
            assert result["ok"] is case.test_ok, (case.name, result)
        failed += not result["ok"]
    # A rotated password: the new one is as secret as the old.
    dst = w.connections["pg-dst"]
    shown = w.call("GET", f"/connections/{dst}")
    shown["properties"]["password"] = w.secrets.new("connection pg-dst.password rotated")
    w.call("PUT", f"/connections/{dst}", json=shown)
    return failed


def _s2t(
    name: str, source: str, target: str, table: dict[str, Any], schema: str = "public"
) -> dict[str, Any]:
    return {
        "name": name,
        "type": "source_to_target",
        "properties": {
            "source": {"connection_id": source},
            "target": {"connection_id": target, "schema_name": "public"},
            "schemas": [{"name": schema, "tables": [table]}],
        },
    }


def _api_table(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "details": {
            "target_table": f"api_{name}",
            "source_options": {"path": "/items", "records_path": "$.data"},
        },
    }


def _action(name: str, url: str, auth: dict[str, Any], **extra: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "request": {"method": "GET", "url": url},
        "auth": auth,
        "retries": {"max_attempts": 1},
    }
    properties.update(extra)
    return {"name": name, "type": "actions", "properties": properties}


def create_rivers(w: World) -> None:
    c, s, echo = w.connections, w.secrets, w.echo.url
    dst = c["pg-dst"]
    people = {"name": "people", "details": {"target_table": "people_copy"}}
    w.river(_s2t("copy people", c["pg-src"], dst, people), "succeeded")
    w.river(_s2t("copy from a missing database", c["pg-missing"], dst, people), "failed")
    mysql_table = {"name": "user", "details": {"target_table": "mysql_users"}}
    w.river(_s2t("copy from mysql", c["mysql-wrong-password"], dst, mysql_table, "mysql"), "failed")
    for connection, expected in (
        ("api-bearer", "succeeded"),
        ("api-key-header", "succeeded"),
        ("api-oauth", "succeeded"),
        ("api-basic-denied", "failed"),
        ("api-key-query-denied", "failed"),
        ("api-oauth-denied", "failed"),
    ):
        table = _api_table(connection.replace("-", "_"))
        w.river(_s2t(f"load {connection}", c[connection], dst, table, ""), expected)
    # credential headers in a REST source's per-table options
    sent = _api_table("table_headers")
    sent["details"]["source_options"]["headers"] = {"X-Session-Token": s.new("header table ok")}
    w.river(_s2t("load with a table header", c["api-bearer"], dst, sent, ""), "succeeded")
    denied = _api_table("table_headers_denied")
    denied["details"]["source_options"].update(
        path="/table-headers", headers={"X-Api-Key": s.new("header table denied")}
    )
    w.river(
        _s2t("load with a denied table header", c["api-basic-denied"], dst, denied, ""), "failed"
    )
    csv = {"name": "exports/orders.csv", "details": {"file_format": "csv"}}
    w.river(_s2t("load s3", c["s3-denied"], dst, csv, ""), "failed")

    bearer = _action(
        "call with bearer",
        f"{echo}/api/items",
        {"type": "bearer", "token": s.new("action bearer token")},
        response={
            "variables": [{"name": "first_name", "path": "$.data[0].name"}],
            "target": {"connection_id": dst, "table": "action_items", "records_path": "$.data"},
        },
    )
    bearer["properties"]["request"]["headers"] = {"X-Env": "{env_token}", "X-River": "{key}"}
    bearer["properties"]["request"]["query"] = {"codes": "{env_codes}"}
    bearer["variables"] = {"key": _private(s.new("river variable key")), "region": "all"}
    w.river(bearer, "succeeded")
    w.river(
        _action(
            "call with an api key",
            f"{echo}/api/items",
            {"type": "api_key", "name": "X-Api-Key", "value": s.new("action api key header")},
        ),
        "succeeded",
    )
    w.river(
        _action(
            "denied basic",
            f"{echo}/deny/basic",
            {"type": "basic", "username": "robot", "password": s.new("action basic password")},
        ),
        "failed",
    )
    # secrets in request headers rather than in auth (finding: shown, exported, stored in clear)
    headers = _action("denied headers", f"{echo}/deny/headers", {"type": "none"})
    headers["properties"]["request"]["headers"] = {
        "Authorization": "Token " + s.new("header authorization"),
        "X-Api-Key": s.new("header x-api-key"),
        "X-Session-Token": s.new("header x-session-token"),
        "Accept": "application/json",
    }
    w.river(headers, "failed")
    query_key = {"type": "api_key", "name": "api_key", "location": "query"}
    query_key["value"] = s.new("action api key query")
    w.river(_action("denied query key", f"{echo}/deny/key", query_key), "failed")
    oauth = {"type": "oauth2_client_credentials", "client_id": "hw-client"}
    w.river(
        _action(
            "denied token request",
            f"{echo}/api/items",
            {
                **oauth,
                "token_url": f"{echo}/deny/token",
                "client_secret": s.new("action oauth client secret (denied)"),
            },
        ),
        "failed",
    )
    w.river(
        _action(
            "denied after a token",
            f"{echo}/deny/after-token",
            {
                **oauth,
                "token_url": f"{echo}/api/oauth/token",
                "client_secret": s.new("action oauth client secret"),
            },
        ),
        "failed",
    )
    _create_logic_rivers(w)


def _create_logic_rivers(w: World) -> None:
    s, dst = w.secrets, w.connections["pg-dst"]
    steps = [
        {
            "type": "sql",
            "name": "store",
            "connection_id": dst,
            "sql": "CREATE TABLE IF NOT EXISTS kept (v text); "
            "INSERT INTO kept VALUES ('{phrase}'), ('{env_token}')",
        },
        {
            "type": "sql",
            "name": "cast the phrase",
            "connection_id": dst,
            "sql": "SELECT '{phrase}'::int",
            "continue_on_failure": True,
        },
        {
            "type": "sql",
            "name": "cast the codes",
            "connection_id": dst,
            "sql": "SELECT unnest(ARRAY[{codes}])::int",
            "continue_on_failure": True,
        },
        {"type": "action", "name": "call", "river_id": w.rivers["call with bearer"]},
        {"type": "river", "name": "copy", "river_id": w.rivers["copy people"]},
    ]
    logic = {
        "name": "nightly",
        "type": "logic",
        "variables": {
            "phrase": _private(s.new("river variable phrase")),
            "codes": _private([s.new("river variable codes[0]"), s.new("river variable codes[1]")]),
        },
        "properties": {"steps": steps},
    }
    nightly = w.river(logic, "succeeded")
    # Read, send back with the masks (a new version), and the variables endpoint likewise.
    shown = w.call("GET", f"/rivers/{nightly}")
    w.call("PUT", f"/rivers/{nightly}", json=shown)
    variables = w.call("GET", f"/rivers/{nightly}/variables")
    w.call("PUT", f"/rivers/{nightly}/variables", json=variables)
    failing = {
        "name": "nightly that fails",
        "type": "logic",
        "variables": {"pin": _private(s.new("river variable pin"))},
        "properties": {
            "steps": [
                {
                    "type": "sql",
                    "name": "cast the token",
                    "connection_id": dst,
                    "sql": "SELECT '{env_token}'::int + '{pin}'::int",
                    "continue_on_failure": True,
                },
                {"type": "action", "name": "denied", "river_id": w.rivers["denied query key"]},
            ]
        },
    }
    w.river(failing, "failed")


# -- run -----------------------------------------------------------------------------------------


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "start_time": (now - timedelta(days=1)).isoformat(),
        "end_time": (now + timedelta(days=1)).isoformat(),
    }


def run_everything(w: World) -> None:
    hook = {"name": "runs", "url": f"{w.echo.url}/hook", "events": ["run_group.finished"]}
    w.call("POST", "/webhooks", 201, json=hook)
    started = {
        name: w.call("POST", f"/rivers/{river_id}/run", 202) for name, river_id in w.rivers.items()
    }
    deadline = time.monotonic() + 60
    statuses: dict[str, str] = {}
    for name, group in started.items():
        river_id = w.rivers[name]
        for run in group["runs"]:
            while True:
                found = w.call("GET", f"/rivers/{river_id}/runs/{run['run_id']}")
                if found["status"] in FINAL:
                    break
                assert time.monotonic() < deadline, f"{name}: still {found['status']}"
                time.sleep(0.2)
            statuses[name] = found["status"]
    assert statuses == w.expected
    for name, river_id in w.rivers.items():
        listed = w.call("GET", f"/rivers/{river_id}/runs", params=window())
        w.runs += [{**r, "river_id": river_id, "river": name} for r in listed["items"]]


def make_mistakes(w: World) -> None:
    """Requests a client gets wrong while carrying a secret: each is refused, none repeats it."""
    new = w.secrets.new
    pg = {"host": "127.0.0.1", "database": "x", "username": "postgres"}

    def connection(name: str | None, kind: str, **props: Any) -> dict[str, Any]:
        body = {"connection_type": kind, "properties": {**pg, **props}}
        return body if name is None else {**body, "connection_name": name}

    def variable(**fields: Any) -> dict[str, Any]:
        return {"variables": [{"is_private": True, **fields}]}

    def logic(**variables: Any) -> dict[str, Any]:
        return {"name": "x", "type": "logic", "properties": {"steps": []}, "variables": variables}

    pg_dst, nightly = w.connections["pg-dst"], w.rivers["nightly"]
    bad: list[tuple[str, str, Any]] = [
        ("POST", "/connections", connection(None, "postgres", password=new("mistake: no name"))),
        ("POST", "/connections", connection("t", "postgres", pasword=new("mistake: misspelt"))),
        ("POST", "/connections", connection("t", "postgress", password=new("mistake: type"))),
        (
            "PUT",
            f"/connections/{pg_dst}",
            connection("pg-dst", "postgres", port="x", password=new("m: PUT")),
        ),
        ("PUT", "/variables", variable(name="typo", vaule=new("mistake: misspelt value"))),
        ("PUT", "/variables", variable(value=new("mistake: variable without a name"))),
        ("PUT", "/variables", variable(name="bad name!", value=new("mistake: bad name"))),
        ("PUT", "/variables", variable(name="deep", value={"k": new("mistake: an object")})),
        (
            "PUT",
            f"/rivers/{nightly}/variables",
            {"variables": {"x": {**_private(new("mistake: extra key")), "privat": True}}},
        ),
        ("POST", "/rivers", logic(x=_private({"k": new("mistake: object as a private value")}))),
        ("POST", "/rivers", logic(x={**_private(new("mistake: key in a river")), "privat": True})),
        (
            "POST",
            "/rivers",
            _action("t", "https://example.com", {"type": "bearr", "token": new("m: auth type")}),
        ),
        (
            "POST",
            "/rivers",
            _action("t", "https://example.com", {"type": "basic", "password": new("m: no user")}),
        ),
    ]
    for method, path, body in bad:
        w.call(method, path, None, json=body)
        assert w.corpus[-1][0].split()[1] in {"400", "404", "409", "422"}, w.corpus[-1]
