"""Saving an airbyte or singer connection through the API checks its config against the
installed connector's spec: a 422 naming the field and the rule, never a secret value; a
connection of a package not installed yet is saved (checked at the connection test).

Runs on both metadata backends (the ``client`` fixture), with the real faker package and the
singer-sdk test tap from the shared venv cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from headwater.security.crypto import MASK
from headwater.services.bootstrap import BootstrapResult
from tests.api.rivers_help import env_path, locs
from tests.connectors.bridges._cache import (
    FAKER,
    INSTALL_TIMEOUT,
    install,
    tap_requirement,
    use_cache,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT)]
TokenFactory = Callable[..., dict[str, str]]
SECRET_NUMBER = 918273645546372819


@pytest.fixture(autouse=True)
def connectors(monkeypatch: pytest.MonkeyPatch) -> None:
    use_cache(monkeypatch)
    install(FAKER)
    install(tap_requirement())


def faker(config: dict[str, Any], name: str = "fake") -> dict[str, Any]:
    return {
        "connection_name": name,
        "connection_type": "airbyte",
        "properties": {"package": FAKER, "config": json.dumps(config)},
    }


def tap(config: dict[str, Any], secrets: Any, name: str = "tap") -> dict[str, Any]:
    return {
        "connection_name": name,
        "connection_type": "singer",
        "properties": {
            "package": "tap-hwtest",
            "config": json.dumps(config),
            "secret_config": secrets if isinstance(secrets, str) else json.dumps(secrets),
        },
    }


def messages(response: httpx.Response) -> dict[str, str]:
    return {".".join(map(str, e["loc"][1:])): e["msg"] for e in response.json()["detail"]}


async def test_an_airbyte_config_is_checked_against_the_spec_on_create_and_update(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    path = env_path(bootstrap, "/connections")
    bad = await client.post(path, json=faker({"count": 0, "parallelism": "four"}), headers=headers)
    assert sorted(locs(bad)) == ["properties.config.count", "properties.config.parallelism"]
    found = messages(bad)
    assert found["properties.config.count"] == "must be at least 1 (rule: minimum)"
    assert found["properties.config.parallelism"] == "must be of type integer (rule: type)"
    assert "four" not in bad.text
    created = await client.post(path, json=faker({"count": 10, "seed": 1}), headers=headers)
    assert created.status_code == 201, created.text
    one = f"{path}/{created.json()['connection_id']}"
    changed = await client.put(one, json=faker({"count": 10, "seed": "x"}), headers=headers)
    assert locs(changed) == ["properties.config.seed"]
    kept = await client.get(one, headers=headers)
    assert json.loads(kept.json()["properties"]["config"]) == {"count": 10, "seed": 1}
    fine = await client.put(one, json=faker({"count": 20}), headers=headers)
    assert fine.status_code == 200, fine.text


async def test_a_singer_config_is_checked_and_a_secret_value_never_echoed(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    headers = make_token()
    path = env_path(bootstrap, "/connections")
    bad = await client.post(path, json=tap({}, {"api_token": SECRET_NUMBER}), headers=headers)
    assert sorted(locs(bad)) == ["properties.config.base_url", "properties.secret_config.api_token"]
    found = messages(bad)
    assert found["properties.config.base_url"] == "field required (rule: required)"
    assert found["properties.secret_config.api_token"] == "must be of type string (rule: type)"
    assert str(SECRET_NUMBER) not in bad.text
    good = tap({"base_url": "http://127.0.0.1:9"}, {"api_token": "hw-secret-4c1d"})
    created = await client.post(path, json=good, headers=headers)
    assert created.status_code == 201, created.text
    one = f"{path}/{created.json()['connection_id']}"
    # the mask sent back keeps the stored secret, which is decrypted for the check
    masked = tap({"base_url": "http://127.0.0.1:9", "fail_after": 3}, MASK)
    assert (await client.put(one, json=masked, headers=headers)).status_code == 200
    wrong = tap({"base_url": "http://127.0.0.1:9", "fail_after": "three"}, MASK)
    answer = await client.put(one, json=wrong, headers=headers)
    assert locs(answer) == ["properties.config.fail_after"]
    assert "hw-secret-4c1d" not in answer.text


async def test_a_package_not_installed_yet_is_saved_and_checked_later(
    client: httpx.AsyncClient, make_token: TokenFactory, bootstrap: BootstrapResult
) -> None:
    body = faker({"count": -1})
    body["properties"]["package"] = "airbyte-source-headwater-not-installed==1.0.0"
    created = await client.post(
        env_path(bootstrap, "/connections"), json=body, headers=make_token()
    )
    assert created.status_code == 201, created.text
