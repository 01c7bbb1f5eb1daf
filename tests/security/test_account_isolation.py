"""Account isolation, with the second account made the way an operator makes it: the real API.

The world: the first start's account A (its admin is the instance admin); account B created
with ``POST /v1/instance/accounts``; B's admin signs in with the generated password and makes
B's token through the API; each account then creates a second environment, users, tokens,
connections, rivers, groups, webhooks and variables through the API (run groups and webhook
deliveries, which only the system makes, straight through the services).

Then, for every route of the table with an id in its path (walked from the app, so a route
added later is covered), in both directions (A attacking B and B attacking A):

- the victim's account, environment and objects in the path: 404, or 403;
- the attacker's own account and environment with one victim object id: 404;
- legacy routes with the victim's id in the query or body: 404;
- Activities and list routes with the victim's ids as filters: no victim data;

and no answer carries any of the victim's ids, names or e-mails (beyond the id it was asked
about), and afterwards every victim object is still there, unchanged. A's token holds
``instance:admin`` too: instance admin power does not open another account's data.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from headwater.api.routes import iter_api_routes
from headwater.security.scopes import ACCOUNT_SCOPES
from headwater.server import create_server_app
from headwater.services.bootstrap import ensure_default_account
from headwater.settings import Settings
from headwater.store import migrate
from headwater.store.engine import make_engine, make_session_factory
from tests._services import require_service
from tests.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    FakeClock,
    create_pg_database,
    drop_pg_database,
)
from tests.security.isolation_world import Account, Builder, Place, SyncClient, unique
from tests.security.test_isolation_matrix import LEGACY_IDS, _body, _legacy_options, canon
from tests.web.forms import csrf_of

TIMES = {"start_time": "2000-01-01T00:00:00", "end_time": "2100-01-01T00:00:00"}
ACCOUNT_LEVEL = {"user_id", "token_id"}


def _routes() -> list[tuple[str, str]]:
    settings = Settings(data_dir=Path("/tmp/hw-account-isolation"), database_url="sqlite://")
    app = create_server_app(settings)
    found = set()
    for route in iter_api_routes(app.routes):
        for method in route.methods - {"HEAD"}:
            if route.path.startswith("/v1/accounts/") or (method, route.path) in LEGACY_IDS:
                found.add((method, route.path))
    app.state.engine.dispose()
    return sorted(found)


ROUTES = _routes()


@dataclass
class Tenant:
    """One account of the world, and everything an attacker must never see of it."""

    account: Account
    markers: set[str] = field(default_factory=set)

    @property
    def home(self) -> Place:
        return self.account.places[0]

    def id_for(self, name: str, path: str) -> str:
        if name == "account_id":
            return self.account.account_id
        if name == "environment_id":
            return self.home.environment_id
        if name in ACCOUNT_LEVEL:
            return self.account.ids[name]
        logic = any(part in canon(path) for part in ("sub_rivers", "logic_steps"))
        if logic and name in {"river_id", "run_id", "run_group_id", "version_id"}:
            return self.home.ids[f"logic_{name}"]
        return self.home.ids[name]


@dataclass
class World:
    client: SyncClient
    a: Tenant
    b: Tenant


def _browser_token(app: Any, email: str, password: str, account_id: str, env: str) -> str:
    """Sign in to the console like a person, then create an every-scope token via the API."""
    browser = SyncClient(app)
    try:
        page = browser.request("GET", "/console/login")
        signed = browser.request(
            "POST",
            "/console/login",
            data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        )
        assert signed.status_code == 303, signed.text
        rivers = browser.request("GET", f"/console/accounts/{account_id}/environments/{env}/rivers")
        scopes = json.loads(browser.request("GET", "/api/me").text)["scopes"]
        made = browser.request(
            "POST",
            f"/v1/accounts/{account_id}/api_tokens",
            json={"name": unique("every-scope"), "scopes": scopes},
            headers={"X-CSRF-Token": csrf_of(rivers.text)},
        )
        assert made.status_code == 201, made.text
        return str(made.json()["token"])
    finally:
        browser.close()


def _api(client: SyncClient, headers: dict[str, str], method: str, url: str, **kw: Any) -> Any:
    answer = client.request(method, url, headers=headers, **kw)
    assert 200 <= answer.status_code < 300, (method, url, answer.text)
    return answer.json() if answer.content else None


def _populate(client: SyncClient, build: Builder, tenant: Tenant) -> None:
    """A second environment, a member, a token and every kind of object, through the API."""
    account = tenant.account
    headers = account.headers
    base = f"/v1/accounts/{account.account_id}"
    env2 = _api(client, headers, "POST", f"{base}/environments", json={"name": unique("env2")})
    account.places.append(Place(account.account_id, env2["environment_id"], headers))
    email = f"{unique('member')}@example.com"
    member = _api(client, headers, "POST", f"{base}/users", json={"email": email})
    account.ids["user_id"] = member["id"]
    token = _api(
        client,
        headers,
        "POST",
        f"{base}/api_tokens",
        json={"name": unique("t"), "scopes": ["me:list"]},
    )
    account.ids["token_id"] = token["id"]
    build.fill(tenant.home)
    tenant.markers |= {account.account_id, email, token["display_prefix"], token["name"]}
    tenant.markers |= {p.environment_id for p in account.places}
    tenant.markers |= set(account.ids.values()) | set(tenant.home.ids.values())
    env = f"{base}/environments/{tenant.home.environment_id}"
    for listing in ("/connections", "/rivers", "/river_groups", "/webhooks"):
        _collect_names(_api(client, headers, "GET", env + listing, params=TIMES), tenant.markers)


def _collect_names(listing: Any, into: set[str]) -> None:
    """The names of a list answer's items (the unique ones ``Builder`` gave them)."""
    items = (
        listing.get("items", listing.get("rivers", [])) if isinstance(listing, dict) else listing
    )
    for item in items:
        for key in ("name", "river_name", "connection_name", "group_name"):
            value = item.get(key)
            if isinstance(value, str) and len(value) >= 8:
                into.add(value)


def _database(backend: str, tmp: Path, request: pytest.FixtureRequest) -> tuple[str, Any]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, tmp / "headwater.db")
        return f"sqlite:///{tmp / 'headwater.db'}", None
    require_service("postgres")
    url = create_pg_database("hw_isolation")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url, url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("accounts")
    url, to_drop = _database(str(request.param), tmp, request)
    engine = make_engine(url)
    sessions: sessionmaker[Session] = make_session_factory(engine)
    with sessions() as session:
        boot = ensure_default_account(
            session, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD
        )
    settings = Settings(
        data_dir=tmp / "data",
        database_url=url,
        secret_key="isolation-secret-key-not-for-production",  # type: ignore[arg-type]
        rate_limit_per_minute=10**6,
    )
    app = create_server_app(settings, engine=engine, clock=FakeClock())
    client = SyncClient(app)
    try:
        a_secret = _browser_token(
            app, ADMIN_EMAIL, ADMIN_PASSWORD, boot.account_id, boot.environment_id
        )
        a_headers = {"Authorization": f"Bearer {a_secret}"}
        created = _api(
            client,
            a_headers,
            "POST",
            "/v1/instance/accounts",
            json={"name": "Tenant B", "admin_email": "tenant-b@example.com"},
        )
        b_secret = _browser_token(
            app,
            "tenant-b@example.com",
            created["generated_password"],
            created["id"],
            created["default_environment_id"],
        )
        b_headers = {"Authorization": f"Bearer {b_secret}"}
        me = _api(client, b_headers, "GET", "/api/me")
        assert set(me["scopes"]) == set(ACCOUNT_SCOPES)  # every account scope, no instance one
        build = Builder(client, sessions)
        tenants = []
        for account_id, admin_id, env, headers in (
            (boot.account_id, boot.admin_id, boot.environment_id, a_headers),
            (created["id"], created["admin_id"], created["default_environment_id"], b_headers),
        ):
            account = Account(account_id, admin_id, headers)
            account.places = [Place(account_id, env, headers)]
            tenants.append(Tenant(account))
        for tenant in tenants:
            _populate(client, build, tenant)
        tenants[1].markers |= {"Tenant B", "tenant-b@example.com", created["admin_id"]}
        tenants[0].markers |= {ADMIN_EMAIL, boot.admin_id}
        yield World(client, tenants[0], tenants[1])
    finally:
        client.close()
        app.state.executor.stop()
        engine.dispose()
        if to_drop:
            drop_pg_database(to_drop)


def _directions(world: World) -> list[tuple[Tenant, Tenant]]:
    return [(world.a, world.b), (world.b, world.a)]


def _leaks(text: str, victim: Tenant, *asked: str) -> list[str]:
    for value in asked:
        text = text.replace(value, "<asked>")
    return sorted(marker for marker in victim.markers if marker and marker in text)


def _options(method: str, path: str, attacker: Tenant) -> dict[str, Any]:
    """A request that would succeed on the attacker's own objects (so only the ids differ:
    a 422 for a bad body would hide whether the id check works)."""
    own = SimpleNamespace(a1=attacker.home)
    return _body(method, path, own, dict(attacker.home.ids))  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=lambda v: str(v))
def test_no_route_reaches_the_other_account(world: World, method: str, path: str) -> None:
    client = world.client
    names = re.findall(r"\{(\w+)\}", path)
    for attacker, victim in _directions(world):
        headers = attacker.account.headers
        options = _options(method, path, attacker)
        if (method, path) in LEGACY_IDS:
            kind = LEGACY_IDS[(method, path)][2]
            value = victim.home.ids[kind]
            legacy = _legacy_options(method, path, value, options)
            answer = client.request(method, path, headers=headers, **legacy)
            assert answer.status_code == 404, (path, answer.text)
            assert _leaks(answer.text, victim, value) == [], path
            continue
        # everything the victim's: the account, the environment, the objects
        asked = {n: victim.id_for(n, path) for n in names}
        url = re.sub(r"\{(\w+)\}", lambda m, ids=asked: ids[m.group(1)], path)
        answer = client.request(method, url, headers=headers, **options)
        assert answer.status_code in {403, 404}, (url, answer.text)
        assert _leaks(answer.text, victim, *asked.values()) == [], url
        # the attacker's own account, one victim environment or object at a time
        for name in names:
            if name == "account_id":
                continue
            own = {n: attacker.id_for(n, path) for n in names}
            own[name] = victim.id_for(name, path)
            url = re.sub(r"\{(\w+)\}", lambda m, ids=own: ids[m.group(1)], path)
            answer = client.request(method, url, headers=headers, **options)
            assert answer.status_code == 404, (name, url, answer.text)
            assert _leaks(answer.text, victim, own[name]) == [], (name, url)


FILTERABLE = [
    (method, path)
    for method, path in ROUTES
    if method == "GET" and "/environments/{environment_id}" in path
]


@pytest.mark.parametrize(("method", "path"), FILTERABLE, ids=str)
def test_foreign_ids_as_filters_find_nothing(world: World, method: str, path: str) -> None:
    """Own route, own path ids, the victim's ids in the Activities and list filters."""
    for attacker, victim in _directions(world):
        ids = victim.home.ids
        filters = {
            **TIMES,
            "scheduler_id": ids["run_group_id"],
            "sub_river_id": ids["river_id"],
            "group_id": ids["group_id"],
            "river_id": ids["river_id"],
        }
        url = re.sub(r"\{(\w+)\}", lambda m, t=attacker: t.id_for(m.group(1), path), path)
        answer = world.client.request(method, url, headers=attacker.account.headers, params=filters)
        assert answer.status_code < 500, (url, answer.text)
        assert _leaks(answer.text, victim, *filters.values()) == [], url


def test_victims_are_untouched_after_every_attack(world: World) -> None:
    """Runs last in the module: every attempted delete, update, run and cancel did nothing."""
    client = world.client
    for tenant in (world.a, world.b):
        headers, ids = tenant.account.headers, tenant.home.ids
        base = f"/v1/accounts/{tenant.account.account_id}"
        env = f"{base}/environments/{tenant.home.environment_id}"
        for suffix in (
            f"/connections/{ids['connection_id']}",
            f"/rivers/{ids['river_id']}",
            f"/rivers/{ids['logic_river_id']}",
            f"/webhooks/{ids['webhook_id']}",
        ):
            assert client.request("GET", env + suffix, headers=headers).status_code == 200, suffix
        groups = _api(client, headers, "GET", env + "/river_groups")
        assert ids["group_id"] in json.dumps(groups)
        river = _api(client, headers, "GET", f"{env}/rivers/{ids['river_id']}")
        assert river.get("river_status", river.get("status")) != "disabled"
        users = _api(client, headers, "GET", f"{base}/users")
        assert tenant.account.ids["user_id"] in json.dumps(users)
        tokens = _api(client, headers, "GET", f"{base}/api_tokens")
        assert tenant.account.ids["token_id"] in json.dumps(tokens)
        run = _api(client, headers, "GET", f"{env}/rivers/{ids['river_id']}/runs/{ids['run_id']}")
        assert "cancel" not in json.dumps(run).lower(), run
        assert _api(client, headers, "GET", base)["name"] != "hijacked"
