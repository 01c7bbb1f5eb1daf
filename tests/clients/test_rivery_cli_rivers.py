"""rivery-cli 0.4.0, unmodified: ``rivers import`` of a logic river writes its YAML and
``rivers push`` of that YAML updates the river, checked through the v1 API.

``rivers push --paths DIR`` cannot find files on Linux with Python 3.11 (its glob pattern
``**\\*.yaml`` is a Windows path), so the push is given the YAML file itself, as a user must.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.clients.conftest import LiveServer

SCOPES = ("me:list", "river:list", "river:write", "connection:list", "connection:edit")


def _rivery(
    python: Path, server: LiveServer, token: str, cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "RIVERY_ACCESS_TOKEN": token,
        "RIVERY_HOST": server.url,
    }
    return subprocess.run(
        [str(python.parent / "rivery"), *args],
        cwd=cwd,
        env=env,
        input="y\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _logic_river(connection_id: str, copy_id: str) -> dict[str, Any]:
    return {
        "name": "nightly via cli",
        "type": "logic",
        "variables": {"regions": ["eu", "us"]},
        "schedulers": [{"cron_expression": "0 3 * * *", "is_enabled": True}],
        "properties": {
            "steps": [
                {
                    "type": "sql",
                    "name": "count",
                    "connection_id": connection_id,
                    "sql": "SELECT count(*) FROM events",
                    "target_variable": "n",
                },
                {
                    "type": "loop",
                    "name": "per region",
                    "variable": "regions",
                    "item_variable": "region",
                    "mode": "parallel",
                    "max_parallel": 2,
                    "steps": [
                        {
                            "type": "sql",
                            "name": "aggregate",
                            "connection_id": connection_id,
                            "sql": "SELECT '{region}'",
                            "continue_on_failure": True,
                        }
                    ],
                },
                {
                    "type": "condition",
                    "name": "if many",
                    "variable": "n",
                    "operator": "greater_than",
                    "value": 10,
                    "steps": [{"type": "river", "name": "copy", "river_id": copy_id}],
                },
            ]
        },
    }


def test_import_then_push_updates_the_logic_river(
    rivery_python: Path, live_server: LiveServer, tmp_path: Path
) -> None:
    minted = live_server.mint_token(*SCOPES, name="rivery-cli rivers")
    token = minted["token"]
    account, environment = minted["account_id"], minted["environment_id"]
    base = f"{live_server.url}/v1/accounts/{account}/environments/{environment}"
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=30) as http:
        connection = http.post(
            f"{base}/connections",
            json={
                "connection_name": "cli warehouse",
                "connection_type": "postgres",
                "properties": {
                    "host": "127.0.0.1",
                    "database": "d",
                    "username": "u",
                    "password": "pw",
                },
            },
        )
        assert connection.status_code == 201, connection.text
        connection_id = connection.json()["connection_id"]
        copy = http.post(
            f"{base}/rivers",
            json={
                "name": "cli copy",
                "type": "src_to_trgt",
                "properties": {
                    "source": {"connection_id": connection_id},
                    "target": {"connection_id": connection_id},
                    "schemas": [{"name": "public", "tables": [{"name": "events"}]}],
                },
            },
        )
        assert copy.status_code == 201, copy.text
        created = http.post(
            f"{base}/rivers", json=_logic_river(connection_id, copy.json()["river_id"])
        )
        assert created.status_code == 201, created.text
        river_id = created.json()["river_id"]

    models = tmp_path / "models"
    imported = _rivery(
        rivery_python,
        live_server,
        token,
        tmp_path,
        "rivers",
        "import",
        "--riverId",
        river_id,
        "--path",
        str(models),
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    yaml_path = models / f"{river_id}.yaml"
    document = yaml.safe_load(yaml_path.read_text())
    definition = document["rivery"]["definition"]
    assert document["rivery"]["cross_id"] == river_id
    assert definition["type"] == "logic" and definition["name"] == "nightly via cli"
    steps = definition["properties"]["steps"]
    assert [s["type"] for s in steps] == ["step", "container", "container"]
    assert steps[0]["sql_query"] == "SELECT count(*) FROM events"
    assert steps[0]["connection_id"] == connection_id
    assert steps[1]["container_running"] == "loop_over"
    assert steps[2]["steps"][0]["river_id"] == copy.json()["river_id"]
    assert definition["schedule"]["cronExp"] == "0 3 * * *"

    steps[0]["sql_query"] = "SELECT count(*) FROM events WHERE day = '{run_date}'"
    steps[1]["steps"][0]["step_name"] = "aggregate by region"
    yaml_path.write_text(yaml.safe_dump(document, sort_keys=False))
    pushed = _rivery(
        rivery_python, live_server, token, tmp_path, "rivers", "push", "--paths", str(yaml_path)
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "Pushed 1 rivers." in pushed.stdout

    with httpx.Client(headers=headers, timeout=30) as http:
        river = http.get(f"{base}/rivers/{river_id}").json()
        versions = http.get(f"{base}/rivers/{river_id}/versions").json()["items"]
    after = river["properties"]["steps"]
    assert after[0]["sql"] == "SELECT count(*) FROM events WHERE day = '{run_date}'"
    assert after[0]["target_variable"] == "n"
    assert after[1]["steps"][0]["name"] == "aggregate by region"
    assert after[1]["steps"][0]["continue_on_failure"] is True
    assert (after[1]["mode"], after[1]["max_parallel"], after[1]["item_variable"]) == (
        "parallel",
        2,
        "region",
    )
    assert (after[2]["operator"], after[2]["value"]) == ("greater_than", 10)
    assert river["variables"] == {"regions": ["eu", "us"]}
    assert river["schedulers"] == [{"cron_expression": "0 3 * * *", "is_enabled": True}]
    assert [v["version"] for v in versions][:2] == [2, 1]
    assert (
        document["rivery"]["cross_id"]
        == yaml.safe_load(yaml_path.read_text())["rivery"]["cross_id"]
    )
