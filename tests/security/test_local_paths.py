"""The data dir is never reachable through a connection; local paths stay in allowed folders.

Reproduces the findings of the fresh-install review as they were found (a member user, a
``river:write``-only token, a ``river:execute``-only token, on a default install whose metadata
DB is ``<data dir>/headwater.db`` and whose key is ``<data dir>/secret.key``) and proves each
closed. The sweep over every connection type's path properties is in
``test_local_paths_sweep.py``.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.security import local_paths
from headwater.security.local_paths import LocalPathPolicy
from headwater.services.connections import local_path_findings
from headwater.settings import Settings
from headwater.store.models import Connection, User
from tests.api.tokenhelp import Minted, mint
from tests.security.local_paths_world import MEMBER_PASSWORD, World, make_world
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio


@pytest.fixture
def backend() -> str:
    """The metadata DB as a default install has it: a SQLite file in the data dir."""
    return "sqlite"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    assert Path(db_url.removeprefix("sqlite:///")) == tmp_path / "headwater.db"
    return Settings(data_dir=tmp_path, database_url=db_url, secret_key=None)


@pytest.fixture
def world(
    settings: Settings, sessions: sessionmaker[Session], tmp_path_factory: pytest.TempPathFactory
) -> World:
    return make_world(settings, sessions, tmp_path_factory.mktemp("outside"))


@dataclass
class Api:
    client: httpx.AsyncClient
    world: World

    async def call(
        self, who: Minted, method: str, path: str, expect: int | None = None, **kw: Any
    ) -> httpx.Response:
        response = await self.client.request(
            method, self.world.prefix + path, headers=who.headers, **kw
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    async def connection(self, who: Minted, kind: str, props: dict[str, Any]) -> httpx.Response:
        body = {
            "connection_name": f"{kind}-{uuid.uuid4().hex[:8]}",
            "connection_type": kind,
            "properties": props,
        }
        return await self.call(who, "POST", "/connections", json=body)

    async def sql_river(self, who: Minted, connection_id: str, *sqls: str) -> str:
        steps = [
            {
                "type": "sql",
                "name": f"step {i}",
                "connection_id": connection_id,
                "sql": sql,
                **(
                    {"target_variable": f"v{i}"}
                    if sql.lstrip().upper().startswith("SELECT")
                    else {}
                ),
            }
            for i, sql in enumerate(sqls)
        ]
        body = {
            "name": f"r-{uuid.uuid4().hex[:8]}",
            "type": "logic",
            "properties": {"steps": steps},
        }
        created = await self.call(who, "POST", "/rivers", 201, json=body)
        return str(created.json()["cross_id"])

    async def run(self, who: Minted, river_id: str) -> dict[str, Any]:
        """Start the river as ``who``; watch it with the admin's token (reading runs takes
        ``activities:list``, which the narrow tokens lack)."""
        started = await self.call(who, "POST", f"/rivers/{river_id}/run", 202)
        run_id = started.json()["runs"][0]["run_id"]
        deadline = time.monotonic() + 60
        while True:
            path = f"/rivers/{river_id}/runs/{run_id}"
            run = (await self.call(self.world.admin, "GET", path, 200)).json()
            if run["status"] not in {"pending", "running"}:
                return dict(run)
            assert time.monotonic() < deadline, "run did not finish"
            await anyio.sleep(0.1)


@pytest.fixture
def api(client: httpx.AsyncClient, world: World) -> Api:
    return Api(client, world)


def detail_for(response: httpx.Response, prop: str) -> str:
    assert response.status_code == 422, response.text
    found = [
        e["msg"] for e in response.json()["detail"] if e["loc"] == ["body", "properties", prop]
    ]
    assert found, response.text
    return str(found[0])


# -- finding 1: a member's sqlite connection on the metadata DB --------------------------------


async def test_member_cannot_point_a_connection_at_the_metadata_db(api: Api, world: World) -> None:
    metadata_db = world.data_dir / "headwater.db"
    assert metadata_db.exists()
    link = world.data_dir / "files" / "harmless.db"
    link.symlink_to(metadata_db)
    spellings = [
        str(metadata_db),
        f"{world.data_dir}/./headwater.db",
        f"{world.data_dir}/files/../headwater.db",
        str(link),  # a symlink in an allowed folder
        f"{metadata_db}-wal",
    ]
    for who in (world.member, world.admin):  # admins included
        for kind in ("sqlite", "duckdb"):
            for path in spellings:
                response = await api.connection(who, kind, {"path": path})
                message = detail_for(response, "path")
                assert "data dir" in message and str(world.data_dir / "files") in message


async def test_a_stored_connection_on_the_metadata_db_cannot_run_sql(
    api: Api, world: World, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """A connection saved before the rule (written straight to the store) fails at run time."""
    with sessions() as session:
        row = Connection(
            account_id=world.account_id,
            environment_id=world.environment_id,
            name="old metadata connection",
            connection_type="sqlite",
            properties={"path": str(world.data_dir / "headwater.db")},
            created_by=world.member_id,
        )
        session.add(row)
        session.commit()
        connection_id = row.id
    tested = await api.call(world.member, "POST", f"/connections/{connection_id}/test", 200)
    assert tested.json()["ok"] is False and "data dir" in tested.json()["message"]
    with sessions() as session:
        findings = local_path_findings(session, LocalPathPolicy.from_settings(settings))
    assert len(findings) == 1 and "old metadata connection" in findings[0]
    assert "its runs fail" in findings[0]  # what `headwater up` warns about
    river = await api.sql_river(
        world.writer,
        connection_id,
        f"UPDATE users SET role = 'admin' WHERE id = '{world.member_id}'",
    )
    run = await api.run(world.executor, river)
    assert run["status"] == "failed"
    assert "data dir" in run["error_description"]
    with sessions() as session:
        assert session.get(User, world.member_id).role == "member"  # type: ignore[union-attr]


# -- finding 2: SQL on the built-in DuckDB target reads the key and writes files --------------


async def test_write_and_execute_tokens_cannot_read_the_key_or_write_files(
    api: Api, world: World
) -> None:
    key = (world.data_dir / "secret.key").read_text().strip()
    assert key  # the install generated its key file
    written = world.outside / "written.csv"
    read_key = await api.sql_river(
        world.writer,
        world.warehouse_id,
        f"SELECT content FROM read_text('{world.data_dir / 'secret.key'}')",
    )
    copy_out = await api.sql_river(
        world.writer, world.warehouse_id, f"COPY (SELECT 42 AS n) TO '{written}'"
    )
    for river in (read_key, copy_out):
        run = await api.run(world.executor, river)
        assert run["status"] == "failed", run
        assert "disabled by configuration" in run["error_description"]
        assert key not in str(run)
        variables = await api.call(
            world.admin, "GET", f"/rivers/{river}/runs/{run['run_id']}/variables", 200
        )
        assert key not in variables.text
    assert not written.exists()


async def test_the_default_duckdb_target_still_works(api: Api, world: World) -> None:
    river = await api.sql_river(
        world.writer,
        world.warehouse_id,
        "CREATE OR REPLACE TABLE answers AS SELECT 42 AS n",
        "SELECT n FROM answers",
    )
    run = await api.run(world.executor, river)
    assert run["status"] == "succeeded", run
    variables = await api.call(
        world.admin, "GET", f"/rivers/{river}/runs/{run['run_id']}/variables", 200
    )
    assert variables.json()["variables"]["v1"] == 42
    assert (world.data_dir / "warehouse" / "warehouse.duckdb").exists()


# -- local_files roots and the allowed folders ----------------------------------------------


async def test_local_files_roots_are_checked(api: Api, world: World) -> None:
    inside = str(world.data_dir / "files" / "drop")
    outside = str(world.outside)
    cases: list[tuple[str, bool, bool]] = [  # root, member may save, admin may save
        ("/", False, False),
        (str(world.data_dir), False, False),
        (str(world.data_dir / "venvs"), False, False),
        (str(world.data_dir.parent), False, False),
        (os.path.relpath(outside), False, True),  # relative, climbing out of the cwd
        (outside, False, True),
        (inside, True, True),
    ]
    for root, member_may, admin_may in cases:
        for who, may in ((world.member, member_may), (world.admin, admin_may)):
            response = await api.connection(who, "local_files", {"root": root})
            if may:
                assert response.status_code == 201, (root, response.text)
            else:
                message = detail_for(response, "root")
                assert "HEADWATER_LOCAL_ROOTS" in message or "data dir" in message


async def test_member_may_keep_an_admin_approved_path_but_not_pick_another(
    api: Api, world: World
) -> None:
    created = await api.connection(world.admin, "sqlite", {"path": str(world.outside / "a.db")})
    assert created.status_code == 201, created.text
    connection_id = created.json()["connection_id"]
    body = {
        "connection_name": "renamed by a member",
        "connection_type": "sqlite",
        "properties": {"path": str(world.outside / "a.db")},
    }
    await api.call(world.member, "PUT", f"/connections/{connection_id}", 200, json=body)
    body["properties"] = {"path": str(world.outside / "b.db")}
    response = await api.call(world.member, "PUT", f"/connections/{connection_id}", json=body)
    assert "only an account admin" in detail_for(response, "path")
    body["properties"] = {"path": str(world.data_dir / "headwater.db")}
    response = await api.call(world.admin, "PUT", f"/connections/{connection_id}", json=body)
    assert "data dir" in detail_for(response, "path")


async def test_a_narrow_token_of_a_member_gets_the_same_answer(api: Api, world: World) -> None:
    narrow = mint(
        world.sessions, world.account_id, created_by=world.member_id, scopes=["connection:edit"]
    )
    response = await api.connection(narrow, "duckdb", {"path": str(world.outside / "x.duckdb")})
    message = detail_for(response, "path")
    assert "only an account admin" in message
    assert str(world.data_dir / "files") in message and str(world.data_dir / "warehouse") in message


async def test_the_catalogue_marks_path_properties(api: Api, world: World) -> None:
    response = await api.client.get("/v1/connections_types", headers=world.member.headers)
    types = {t["name"]: t for t in response.json()["items"]}
    marked = {
        (name, p["name"])
        for name, t in types.items()
        for p in t["properties"]
        if p["type"] == "path"
    }
    assert {("sqlite", "path"), ("duckdb", "path"), ("local_files", "root")} <= marked


# -- a connection saved through the console goes through the same service ----------------------


async def test_the_console_form_refuses_the_metadata_db(
    client: httpx.AsyncClient, world: World
) -> None:
    signed = await sign_in(client, world.member_email, MEMBER_PASSWORD)
    assert signed.status_code in (302, 303), signed.text
    base = f"/console/accounts/{world.account_id}/environments/{world.environment_id}"
    csrf = await page_csrf(client, f"{base}/connections/new?connection_type=sqlite")
    response = await client.post(
        f"{base}/connections",
        data={
            "csrf_token": csrf,
            "connection_type": "sqlite",
            "connection_name": "meta",
            "p_path": str(world.data_dir / "headwater.db"),
        },
    )
    assert response.status_code == 422, response.text
    assert "data dir" in response.text
    with world.sessions() as session:
        assert session.scalars(select(Connection).where(Connection.name == "meta")).first() is None


def test_the_world_is_what_the_findings_need(world: World) -> None:
    with world.sessions() as session:
        roles = {row[0]: row[1] for row in session.execute(select(User.id, User.role))}
    assert roles[world.member_id] == "member" and roles[world.admin_id] == "admin"
    assert (world.data_dir / "headwater.db").exists() and (world.data_dir / "secret.key").exists()


def test_headwater_apply_refuses_the_data_dir_and_a_members_outside_path(
    world: World, settings: Settings
) -> None:
    """``headwater apply`` plans through the same check (as the first admin: data dir only;
    as a member: outside paths too), with the process's policy (here: this install's)."""
    from headwater.security.crypto import SecretBox
    from headwater.services import flows, flows_apply
    from headwater.services.audit import Actor
    from headwater.services.envscope import EnvScope
    from headwater.store.base import utcnow

    def plan(actor: Actor, path: Path) -> None:
        entry = {"name": "c", "type": "sqlite", "properties": {"path": str(path)}}
        documents: dict[str, list[Any]] = {section: [] for section in flows.SECTIONS}
        documents["connections"] = [entry]
        with world.sessions() as session:
            context = flows_apply.Context(
                session=session,
                box=SecretBox("k"),
                scope=EnvScope(world.account_id, world.environment_id),
                actor=actor,
                now=utcnow(),
            )
            flows_apply.plan(context, documents)

    admin = Actor(kind="user", id=world.admin_id, user_id=world.admin_id, is_admin=True)
    member = Actor(kind="user", id=world.member_id, user_id=world.member_id)
    token = local_paths.set_policy(LocalPathPolicy.from_settings(settings))
    try:
        with pytest.raises(flows_apply.FlowError, match="data dir"):
            plan(admin, world.data_dir / "headwater.db")
        with pytest.raises(flows_apply.FlowError, match="only an account admin"):
            plan(member, world.outside / "x.db")
        plan(admin, world.outside / "x.db")
        plan(member, world.data_dir / "files" / "x.db")
    finally:
        local_paths.reset_policy(token)
