"""The world of the isolation matrix: two accounts, two environments each, objects everywhere.

Account A has an admin and a member, environments A1 (default) and A2; account B has B1
(default) and B2. A1, A2 and B1 each hold the same set of objects, created through the API (so
they are what a client would make): a connection, a source-to-target river, a logic river
using it as a sub river, a river group, a webhook with a delivery, an environment variable, run
groups (pending, so nothing executes). Accounts also hold users and tokens. ``fresh_*`` make
throwaway objects for calls that consume one (deletes, cancels).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio.from_thread
import httpx
from sqlalchemy.orm import Session, sessionmaker

from headwater.services import runs as run_service
from headwater.services.runs import RiverRef, TaskPlan
from headwater.store.models.webhooks import WebhookDelivery
from tests.api.rivers_help import pg_connection, s2t_body
from tests.api.tokenhelp import add_user, mint

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HOOK_URL = "http://127.0.0.1:9/hook"  # nothing listens on the discard port: fails at once


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Place:
    """One environment's objects, by path-parameter name."""

    account_id: str
    environment_id: str
    headers: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)


@dataclass
class Account:
    account_id: str
    admin_id: str
    headers: dict[str, str]  # an admin's token with every scope
    places: list[Place] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # account-level: users, tokens


class Builder:
    def __init__(self, client: SyncClient, sessions: sessionmaker[Session]) -> None:
        self.client = client
        self.sessions = sessions

    def call(self, place: Place, method: str, suffix: str, expect: int, **kw: Any) -> Any:
        base = f"/v1/accounts/{place.account_id}/environments/{place.environment_id}"
        response = self.client.request(method, base + suffix, headers=place.headers, **kw)
        assert response.status_code == expect, f"{method} {suffix}: {response.text}"
        return response.json() if response.content else None

    def connection(self, place: Place) -> str:
        body = pg_connection(unique("conn"))
        return str(self.call(place, "POST", "/connections", 201, json=body)["connection_id"])

    def s2t_river(self, place: Place, connection_id: str) -> str:
        body = s2t_body(connection_id, connection_id, name=unique("copy"))
        return str(self.call(place, "POST", "/rivers", 201, json=body)["cross_id"])

    def logic_river(self, place: Place, connection_id: str, sub_river_id: str) -> str:
        body = {
            "name": unique("logic"),
            "type": "logic",
            "properties": {
                "steps": [
                    {
                        "type": "sql",
                        "name": "one",
                        "connection_id": connection_id,
                        "sql": "SELECT 1",
                    },
                    {"type": "river", "name": "copy", "river_id": sub_river_id},
                ]
            },
        }
        return str(self.call(place, "POST", "/rivers", 201, json=body)["cross_id"])

    def group(self, place: Place) -> str:
        return str(
            self.call(place, "POST", "/river_groups", 201, json={"name": unique("g")})["group_id"]
        )

    def webhook(self, place: Place) -> str:
        body = {"name": unique("hook"), "url": HOOK_URL, "events": ["run_group.finished"]}
        return str(self.call(place, "POST", "/webhooks", 201, json=body)["webhook_id"])

    def delivery(self, webhook_id: str) -> str:
        with self.sessions() as session:
            delivery = WebhookDelivery(
                webhook_id=webhook_id, event="ping", status="failed", attempts=1
            )
            session.add(delivery)
            session.commit()
            return delivery.id

    def variable(self, place: Place) -> str:
        name = unique("v").replace("-", "_")
        body = {"variables": [{"name": name, "value": "1"}]}
        self.call(place, "PUT", "/variables", 200, json=body)
        return name

    def run_group(self, place: Place, river_id: str, river_type: str) -> tuple[str, str]:
        """A pending group with one run (no executor: it stays pending)."""
        ref = RiverRef(place.account_id, place.environment_id, river_id, river_type)
        with self.sessions() as session:
            group = run_service.trigger_river(
                session, ref, trigger="api", tasks=[TaskPlan(task_key="0:x")], now=NOW
            )
            assert group.status == "pending"
            return group.id, group.runs[0].id

    def version(self, place: Place, river_id: str) -> str:
        versions = self.call(place, "GET", f"/rivers/{river_id}/versions", 200)
        items = versions["items"] if isinstance(versions, dict) else versions
        return str(items[0]["version_id"])

    def fill(self, place: Place) -> None:
        ids = place.ids
        ids["connection_id"] = self.connection(place)
        ids["river_id"] = self.s2t_river(place, ids["connection_id"])
        ids["logic_river_id"] = self.logic_river(place, ids["connection_id"], ids["river_id"])
        ids["sub_river_id"] = ids["river_id"]
        ids["group_id"] = self.group(place)
        ids["webhook_id"] = self.webhook(place)
        ids["delivery_id"] = self.delivery(ids["webhook_id"])
        ids["variable"] = self.variable(place)
        ids["run_group_id"], ids["run_id"] = self.run_group(place, ids["river_id"], "src_to_trgt")
        ids["logic_run_group_id"], ids["logic_run_id"] = self.run_group(
            place, ids["logic_river_id"], "logic"
        )
        ids["version_id"] = self.version(place, ids["river_id"])
        ids["logic_version_id"] = self.version(place, ids["logic_river_id"])

    def account_objects(self, account: Account) -> None:
        account.ids["user_id"] = add_user(self.sessions, account.account_id, role="member")
        account.ids["token_id"] = mint(
            self.sessions, account.account_id, created_by=account.admin_id, name="listed"
        ).id

    # -- throwaway objects for calls that consume them ----------------------------------------

    def fresh(self, place: Place, account: Account, name: str) -> str:
        if name == "river_id":
            return self.s2t_river(place, place.ids["connection_id"])
        if name == "connection_id":
            return self.connection(place)
        if name == "group_id":
            return self.group(place)
        if name == "webhook_id":
            return self.webhook(place)
        if name == "delivery_id":
            return self.delivery(place.ids["webhook_id"])
        if name == "user_id":
            return add_user(self.sessions, account.account_id, role="member")
        if name == "token_id":
            return mint(self.sessions, account.account_id, created_by=account.admin_id).id
        if name == "variable":
            return self.variable(place)
        if name == "run_group_id":
            river_id = self.s2t_river(place, place.ids["connection_id"])
            return self.run_group(place, river_id, "src_to_trgt")[0]
        raise KeyError(name)

    def fresh_group_of(self, place: Place) -> tuple[str, str]:
        """(river id, pending run group id) of a new river, for cancel calls."""
        river_id = self.s2t_river(place, place.ids["connection_id"])
        return river_id, self.run_group(place, river_id, "src_to_trgt")[0]


class SyncClient:
    """``httpx.AsyncClient`` over the ASGI app, driven from sync code through an anyio portal.

    Starlette's ``TestClient`` needs another HTTP package; this keeps the suite on httpx.
    """

    def __init__(self, app: Any) -> None:
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self._portal.call(functools.partial(self._client.request, method, url, **kw))

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._portal_cm.__exit__(None, None, None)
