"""The isolation matrix: every scoped route, every way a caller can be wrong or right.

Routes are read from the app (``iter_api_routes``), so a route added later is covered. For each:

- 401 without a token, with an unknown token and with a non-bearer scheme (one body for all);
- 403 with every scope but the route's, with a token granted only the other environment, and
  (``ADMIN_ONLY``) with a member's token holding every scope;
- 404 for account B's account, environment and objects, and for objects of A's other
  environment, with the same body as a truly missing id (the id itself aside): nothing says
  whether the object exists;
- 2xx with a token holding exactly the route's scope on account A's real objects, and no
  response of A ever contains an id of B. (Managing a user also needs the scopes of the user's
  role, since nobody grants what it does not hold: those calls add ``MEMBER_SCOPES``.)

``/v1/instance/...`` acts across accounts by design; ``test_account_isolation.py`` and
``test_instance_accounts.py`` cover it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from headwater.api.routes import iter_api_routes
from headwater.security.scopes import MEMBER_SCOPES, SCOPES
from headwater.server import create_server_app
from headwater.services.bootstrap import ensure_default_account
from headwater.settings import Settings
from headwater.store.engine import make_engine, make_session_factory
from tests.api.rivers_help import pg_connection, s2t_body
from tests.api.test_route_scopes import _declared
from tests.api.tokenhelp import add_account, add_environment, add_user, mint
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, FakeClock
from tests.security.isolation_world import Account, Builder, Place, SyncClient, unique

MISSING = "f" * 24
TIMES = {"start_time": "2000-01-01T00:00:00", "end_time": "2100-01-01T00:00:00"}
ACCOUNT = "/v1/accounts/{account_id}"
E = ACCOUNT + "/environments/{environment_id}"
ADMIN_ONLY = {
    ("PUT", ACCOUNT + "/plan"),
    ("GET", ACCOUNT + "/api_tokens"),
    ("POST", ACCOUNT + "/api_tokens"),
    ("GET", ACCOUNT + "/api_tokens/{token_id}"),
    ("DELETE", ACCOUNT + "/api_tokens/{token_id}"),
    ("GET", ACCOUNT + "/users"),
    ("POST", ACCOUNT + "/users"),
    ("GET", ACCOUNT + "/users/{user_id}"),
    ("PATCH", ACCOUNT + "/users/{user_id}"),
    ("DELETE", ACCOUNT + "/users/{user_id}"),
    ("POST", ACCOUNT + "/environments"),
}
#: Legacy routes take ids in the query or body: (method, path) → where the id goes.
LEGACY_IDS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("POST", "/api/run"): ("json", "river_id", "river_id"),
    ("GET", "/api/check_run"): ("params", "run_id", "run_group_id"),
    ("POST", "/api/run/cancel"): ("json", "run_id", "run_group_id"),
    ("GET", "/api/activities/runs/logs"): ("params", "id", "run_id"),
    ("POST", "/api/rivers/list"): ("json", "_id", "river_id"),
    ("PATCH", "/api/rivers/modify"): ("json", "_id", "river_id"),
    ("DELETE", "/api/rivers/modify"): ("json", "_id", "river_id"),
    ("PATCH", "/api/river_groups"): ("json", "_id", "group_id"),
    ("DELETE", "/api/river_groups"): ("json", "_id", "group_id"),
}
CONSUMED = {"DELETE"}
#: Calls that change the object for every later call (its status, its running group).
CONSUMING = ("/cancel_run", "/run/cancel", "/activate_river", "/disable_river")


def canon(path: str) -> str:
    """The path with the ``data flows`` / ``data_flows`` spellings folded into ``rivers``."""
    for alias in ("data flows", "data_flows"):
        path = path.replace(f"/{alias}/", "/rivers/").replace(f"sub_{alias}", "sub_rivers")
        if path.endswith(f"/{alias}"):
            path = path[: -len(alias)] + "rivers"
    return path


def is_logic(path: str) -> bool:
    return any(part in path for part in ("sub_rivers", "logic_steps"))


def _table() -> list[tuple[str, str, str]]:
    settings = Settings(data_dir=Path("/tmp/hw-matrix-table"), database_url="sqlite://")
    app = create_server_app(settings)
    table = []
    for route in iter_api_routes(app.routes):
        if not route.path.startswith(("/v1/", "/api/")) or route.path.startswith("/v1/instance"):
            continue
        scopes, _public = _declared(route.dependant)
        for method in sorted(route.methods - {"HEAD"}):
            table.extend((method, route.path, scope) for scope in sorted(scopes))
    app.state.engine.dispose()
    return sorted(table)


TABLE = _table()


@dataclass
class World:
    client: SyncClient
    sessions: sessionmaker[Session]
    build: Builder
    a: Account
    b: Account
    member_headers: dict[str, str]
    env2_only_headers: dict[str, str]

    @property
    def a1(self) -> Place:
        return self.a.places[0]


@pytest.fixture(scope="module")
def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    shutil.copyfile(sqlite_template, tmp / "headwater.db")
    url = f"sqlite:///{tmp / 'headwater.db'}"
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        boot = ensure_default_account(
            session, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD
        )
    other = add_account(sessions)
    settings = Settings(
        data_dir=tmp / "data",
        database_url=url,
        secret_key="matrix-secret-key-not-for-production",  # type: ignore[arg-type]
        rate_limit_per_minute=10**6,
    )
    app = create_server_app(settings, engine=engine, clock=FakeClock())
    client = SyncClient(app)
    build = Builder(client, sessions)
    accounts = []
    for account_id, admin_id, env1 in (
        (boot.account_id, boot.admin_id, boot.environment_id),
        (other.account_id, other.admin_id, other.environment_id),
    ):
        headers = mint(sessions, account_id, created_by=admin_id).headers
        env2 = add_environment(sessions, account_id, unique("env2"))
        account = Account(account_id, admin_id, headers)
        account.places = [Place(account_id, env, headers) for env in (env1, env2)]
        build.account_objects(account)
        accounts.append(account)
    a, b = accounts
    for place in (a.places[0], a.places[1], b.places[0]):
        build.fill(place)
    member = add_user(sessions, a.account_id, role="member")
    world = World(
        client,
        sessions,
        build,
        a,
        b,
        member_headers=mint(sessions, a.account_id, created_by=member).headers,
        env2_only_headers=mint(
            sessions,
            a.account_id,
            created_by=a.admin_id,
            environment_ids=[a.places[1].environment_id],
        ).headers,
    )
    yield world
    client.close()
    app.state.executor.stop()
    engine.dispose()


def _id_for(name: str, path: str, place: Place, account: Account) -> str:
    if name == "account_id":
        return place.account_id
    if name == "environment_id":
        return place.environment_id
    if name in {"user_id", "token_id"}:
        return account.ids[name]
    logic = is_logic(path)
    if logic and name in {"river_id", "run_id", "run_group_id", "version_id"}:
        return place.ids[f"logic_{name}"]
    return place.ids[name]


def concrete(path: str, place: Place, account: Account, **override: str) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return override.get(name) or _id_for(name, canon(path), place, account)

    return re.sub(r"\{(\w+)\}", fill, path)


def _body(method: str, path: str, world: World, ids: dict[str, str]) -> dict[str, Any]:
    """Request options that make the call valid (2xx) for account A, environment A1."""
    place, c = world.a1, canon(path)
    key = (method, c.replace(E, "E").replace(ACCOUNT, "A"))
    legacy_logic = {
        "river_definitions": {"river_name": unique("legacy"), "river_type": "logic"},
        "tasks_definitions": [
            {
                "task_type_id": "logic",
                "task_config": {
                    "logic_steps": [
                        {
                            "step_name": "one",
                            "isEnabled": True,
                            "content": {
                                "block_primary_type": "sql",
                                "gConnection": {"$oid": place.ids["connection_id"]},
                                "sql_query": "SELECT 1",
                            },
                        }
                    ]
                },
            }
        ],
    }
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("PUT", "A/plan"): {"json": {"plan": "pro"}},
        # a token grants only what it holds: the exact-scope token holds just token:edit
        ("POST", "A/api_tokens"): {"json": {"name": unique("t"), "scopes": ["token:edit"]}},
        ("POST", "A/users"): {"json": {"email": f"{unique('u')}@example.com", "role": "member"}},
        ("PATCH", "A/users/{user_id}"): {"json": {"name": "Renamed"}},
        ("POST", "A/environments"): {"json": {"name": unique("env")}},
        ("PATCH", "E"): {"json": {"name": unique("env")}},
        ("POST", "E/rivers/{river_id}/run"): {"json": {}},
        ("POST", "E/rivers/{river_id}/cancel_run"): {
            "json": {"run_group_id": ids.get("run_group_id")}
        },
        ("POST", "E/rivers/{river_id}/sub_rivers/{sub_river_id}/run"): {},
        ("POST", "E/connections"): {"json": _conn()},
        ("PUT", "E/connections/{connection_id}"): {"json": _conn()},
        ("POST", "E/rivers"): {"json": _river(place)},
        ("PUT", "E/rivers/{river_id}"): {"json": _river(place)},
        ("PUT", "E/rivers/{river_id}/restore"): {"json": {"version_id": ids.get("version_id")}},
        ("PUT", "E/rivers/{river_id}/variables"): {"json": {"variables": {"x": "1"}}},
        ("POST", "E/river_groups"): {"json": {"name": unique("g")}},
        ("PATCH", "E/river_groups/{group_id}"): {"json": {"name": unique("g")}},
        ("PUT", "E/river_groups/{group_id}"): {"json": {"name": unique("g")}},
        ("PUT", "E/variables"): {"json": {"variables": [{"name": "x_var", "value": "1"}]}},
        ("DELETE", "E/variables"): {"params": {"name": ids.get("variable")}},
        ("POST", "E/webhooks"): {
            "json": {
                "name": unique("h"),
                "url": "http://127.0.0.1:9/",
                "events": ["run_group.failed"],
            }
        },
        ("PATCH", "E/webhooks/{webhook_id}"): {"json": {"name": unique("h")}},
        ("PUT", "/api/rivers/modify"): {"json": legacy_logic},
        ("PATCH", "/api/rivers/modify"): {
            "json": {**legacy_logic, "cross_id": ids.get("river_id"), "_id": ids.get("river_id")}
        },
        ("PUT", "/api/river_groups"): {"json": {"group_name": unique("g")}},
        ("PATCH", "/api/river_groups"): {"json": {"_id": ids.get("group_id"), "group_name": "x"}},
    }
    options = dict(bodies.get(key, {}))
    if method == "GET":
        options["params"] = {**TIMES, **options.get("params", {})}
    return options


def _conn() -> dict[str, Any]:
    return pg_connection(unique("c"))


def _river(place: Place) -> dict[str, Any]:
    return s2t_body(place.ids["connection_id"], place.ids["connection_id"], name=unique("r"))


def _legacy_options(method: str, path: str, value: str, base: dict[str, Any]) -> dict[str, Any]:
    where, key, _kind = LEGACY_IDS[(method, path)]
    options = {k: dict(v) for k, v in base.items()}
    options.setdefault(where, {})[key] = value
    return options


def _strip(text: str, *ids: str) -> str:
    for value in ids:
        text = text.replace(value, "<id>")
    return text


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize(("method", "path", "scope"), TABLE, ids=lambda v: str(v))
def test_isolation(world: World, method: str, path: str, scope: str) -> None:
    client, a, b, a1 = world.client, world.a, world.b, world.a1
    c = canon(path)
    legacy = (method, path) in LEGACY_IDS
    url = concrete(path, a1, a)
    base = _body(method, path, world, dict(a1.ids))

    def call(headers: dict[str, str], target: str = url, **options: Any) -> Any:
        merged = options or base
        return client.request(method, target, headers=headers, **merged)

    # 401: no token, unknown token, wrong scheme, one answer for all.
    for headers in ({}, _bearer("hwt_" + "x" * 43), {"Authorization": "Basic YTpi"}):
        denied = call(headers)
        assert denied.status_code == 401, (headers, denied.text)
        assert denied.json() == {"detail": "Credentials are not valid"}

    # 403: every scope but this one; not granted the environment; a member on admin routes.
    others = mint(world.sessions, a.account_id, created_by=a.admin_id, scopes=set(SCOPES) - {scope})
    lacking = call(others.headers)
    assert lacking.status_code == 403 and scope in lacking.json()["detail"], lacking.text
    if "{environment_id}" in path:
        wrong_env = call(world.env2_only_headers)
        assert wrong_env.status_code == 403, wrong_env.text
    if (method, c) in ADMIN_ONLY:
        member = call(world.member_headers)
        assert member.status_code == 403, member.text

    # 404: B's account, environment and objects, A2's objects; same body as a missing id.
    params = re.findall(r"\{(\w+)\}", path)
    for name in params:
        if name == "account_id":
            foreign = [b.account_id]
        elif name == "environment_id":
            foreign = [b.places[0].environment_id]
        elif name in {"user_id", "token_id"}:
            foreign = [b.ids[name]]
        else:
            foreign = [_id_for(name, c, b.places[0], b), _id_for(name, c, a.places[1], a)]
        missing = call(a.headers, concrete(path, a1, a, **{name: MISSING}))
        assert missing.status_code == 404, (name, missing.text)
        for value in foreign:
            leaked = call(a.headers, concrete(path, a1, a, **{name: value}))
            assert leaked.status_code == 404, (name, leaked.text)
            assert _strip(leaked.text, value) == _strip(missing.text, MISSING), name
    if legacy:
        _where, _key, kind = LEGACY_IDS[(method, path)]
        missing = call(a.headers, url, **_legacy_options(method, path, MISSING, base))
        assert missing.status_code == 404, missing.text
        # Legacy ids are account-wide: B's with any token, A2's with a token granted only A1.
        env1_only = mint(
            world.sessions, a.account_id, created_by=a.admin_id, environment_ids=[a1.environment_id]
        ).headers
        for value, headers in (
            (b.places[0].ids[kind], a.headers),
            (a.places[1].ids[kind], env1_only),
        ):
            leaked = call(headers, url, **_legacy_options(method, path, value, base))
            assert leaked.status_code == 404, leaked.text
            assert _strip(leaked.text, value) == _strip(missing.text, MISSING)

    # 2xx with exactly this scope, on A's real objects (fresh ones when the call consumes them).
    granting = c.startswith(ACCOUNT + "/users") and method != "GET"
    needed = {scope} | (MEMBER_SCOPES if granting else set())
    exact = mint(world.sessions, a.account_id, created_by=a.admin_id, scopes=needed).headers
    override: dict[str, str] = {}
    ids: dict[str, str] = dict(a1.ids)
    if method in CONSUMED or c.endswith(CONSUMING):
        for name in params:
            if name not in {"account_id", "environment_id"}:
                override[name] = world.build.fresh(a1, a, name)
        if c.endswith("cancel_run"):
            override["river_id"], ids["run_group_id"] = world.build.fresh_group_of(a1)
        for name in ("variable", "river_id", "group_id", "run_group_id"):
            if legacy or name == "variable":
                ids[name] = world.build.fresh(a1, a, name)
    if c.endswith("/restore"):
        ids["version_id"] = a1.ids["version_id"]
    options = _body(method, path, world, ids)
    if c.endswith("cancel_run"):
        options["json"] = {"run_group_id": ids["run_group_id"]}
    if legacy:
        options = _legacy_options(method, path, ids[LEGACY_IDS[(method, path)][2]], options)
    allowed = client.request(method, concrete(path, a1, a, **override), headers=exact, **options)
    assert 200 <= allowed.status_code < 300, allowed.text
    for place in b.places[:1]:
        for value in place.ids.values():
            assert value not in allowed.text, f"{method} {path} leaked B's id {value}"
    assert b.account_id not in allowed.text
