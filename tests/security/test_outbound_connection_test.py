"""Finding 3: a database connection test must not tell an open private port from a closed one.

As found: in ``production`` mode, ``POST .../connections/{id}/test`` on ``127.0.0.1:5432``
(PostgreSQL listening) and on a closed loopback port gave different answers, so the endpoint
was a port scanner for the server's own network. Now a blocked host fails with the policy's
message before any connection is attempted, whatever the port's state; ``development`` mode
still reports what really happened (which is also what shows this test can fail).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.services.bootstrap import BootstrapResult
from headwater.settings import Settings
from tests._services import require_service
from tests.api.rivers_help import env_path
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.security.outbound_help import closed_port
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio

TokenFactory = Callable[..., dict[str, str]]
BLOCKED = "blocked in production mode"
SERVERS = {
    "postgres": {"port": 5432, "database": "postgres", "username": "postgres"},
    "mysql": {"port": 3306, "database": "mysql", "username": "root"},
}


@pytest.fixture(params=["production", "development"])
def outbound_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(db_url: str, tmp_path: Path, outbound_mode: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
        public_url=None,
        mode=outbound_mode,  # type: ignore[arg-type]
    )


async def _test_connection(
    client: httpx.AsyncClient, boot: BootstrapResult, headers: dict[str, str], body: Any
) -> dict[str, Any]:
    created = await client.post(env_path(boot, "/connections"), json=body, headers=headers)
    assert created.status_code == 201, created.text
    connection_id = created.json()["connection_id"]
    answer = await client.post(
        env_path(boot, f"/connections/{connection_id}/test"), headers=headers
    )
    assert answer.status_code == 200
    result: dict[str, Any] = answer.json()
    return result


@pytest.mark.parametrize("kind", sorted(SERVERS))
async def test_finding_3_open_and_closed_private_ports_answer_alike(
    kind: str,
    outbound_mode: str,
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
) -> None:
    require_service(kind)
    headers = make_token()
    answers = []
    for name, port in (("open", SERVERS[kind]["port"]), ("closed", closed_port())):
        body = {
            "connection_name": f"{kind} {name}",
            "connection_type": kind,
            "properties": {**SERVERS[kind], "host": "127.0.0.1", "port": port},
        }
        answers.append(await _test_connection(client, bootstrap, headers, body))
    open_answer, closed_answer = answers
    if outbound_mode == "production":
        assert open_answer == closed_answer
        assert open_answer["ok"] is False and BLOCKED in open_answer["message"]
        assert str(SERVERS[kind]["port"]) not in open_answer["message"]
    else:
        assert open_answer == {"ok": True, "message": None}
        assert closed_answer["ok"] is False and "cannot connect" in closed_answer["message"]


async def test_the_console_test_button_follows_the_deployment_policy(
    outbound_mode: str,
    client: httpx.AsyncClient,
    make_token: TokenFactory,
    bootstrap: BootstrapResult,
) -> None:
    require_service("postgres")
    body = {
        "connection_name": "pg open",
        "connection_type": "postgres",
        "properties": {**SERVERS["postgres"], "host": "127.0.0.1"},
    }
    created = await client.post(
        env_path(bootstrap, "/connections"), json=body, headers=make_token()
    )
    connection_id = created.json()["connection_id"]
    signed_in = await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert signed_in.status_code == 303
    base = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
    csrf = await page_csrf(client, f"{base}/connections")
    tested = await client.post(
        f"{base}/connections/{connection_id}/test", data={"csrf_token": csrf}
    )
    assert (BLOCKED in tested.text) is (outbound_mode == "production")
