"""The hosted service's own Activities collection, run by newman against a live Headwater.

The collection is the seed's, copied unchanged to ``data/``; the test writes a working copy
whose bearer token is ``{{access_token}}`` and whose every request carries newman test scripts
asserting status 200 and the documented keys. It runs twice: as published (only the enabled
query parameters), and with every disabled query parameter enabled and given a valid value.
newman comes from npm (``node/package.json`` and its lock), installed on first use.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from filelock import FileLock

from headwater.store.engine import make_engine, make_session_factory
from tests._services import in_ci
from tests.api.activities_data import GroupRow, History, RiverRow, RunRow, oid, rid, write
from tests.clients.conftest import LiveServer

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
SEED_COLLECTION = HERE / "data" / "activities.postman_collection.json"
NEWMAN = NODE_DIR / "node_modules" / ".bin" / "newman"

RUN_KEYS = [
    "run_id",
    "run_group_id",
    "river_id",
    "sub_river_id",
    "is_sub_river_run",
    "source_name",
    "target_name",
    "status",
    "error_description",
    "units",
    "total_rows",
    "total_size",
    "start_date_utc",
    "end_date_utc",
    "start_date_in_milliseconds",
    "end_date_in_milliseconds",
    "trigger",
]
PAGE_KEYS = [
    "items",
    "page",
    "items_per_page",
    "current_page_size",
    "total_items",
    "next_page",
    "previous_page",
    "account_id",
    "environment_id",
]
STATISTICS_KEYS = [
    "running",
    "pending",
    "succeeded",
    "failed",
    "canceled",
    "skipped",
    "total_units",
    "total_rpu",
]
ROW_KEYS = [
    "river_id",
    "river_name",
    "river_type",
    "group_id",
    "is_scheduled",
    "succeeded",
    "failed",
    "running",
    "pending",
    "canceled",
    "units",
    "total_rows",
    "total_size",
    "last_run",
    "max_duration_in_milliseconds",
]
GROUP_KEYS = [
    "run_group_id",
    "status",
    "units",
    "max_duration_in_milliseconds",
    "run_date_epoch_milliseconds",
    "run_date_utc",
    "run_end_date_utc",
    "trigger",
]
# request name -> (is a page, keys of the body or of each item)
SHAPES: dict[str, tuple[str, list[str]]] = {
    "Get Activities Statistic": ("object", STATISTICS_KEYS),
    "Get River Activities Statistic": ("object", STATISTICS_KEYS),
    "Get River Activities Targets": (
        "items",
        ["target_name", "status", "units", "last_run", "total_rows"],
    ),
    "Get River Activities Run Groups": ("page", GROUP_KEYS),
    "Get River Activities Sub Data Flows": (
        "items",
        ["sub_river_id", "sub_river_name", "status", "units", "last_run"],
    ),
    "Get River Activities Runs": ("page", RUN_KEYS),
    "Get River Activities Run": ("object", RUN_KEYS),
    "Get Activities": ("page", ROW_KEYS),
}
START = datetime(2026, 1, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def newman() -> Path:
    """newman 6 from npm, installed into ``node/node_modules`` (gitignored) when missing.

    A file lock keeps parallel test workers from installing it twice at once.
    """
    with FileLock(str(NODE_DIR / ".install.lock")):
        return _install_newman()


def _install_newman() -> Path:
    if NEWMAN.exists():
        return NEWMAN
    npm = shutil.which("npm")
    lock = (NODE_DIR / "package-lock.json").exists()
    try:
        if npm is None:
            raise FileNotFoundError("npm is not installed")
        subprocess.run(
            [npm, "ci" if lock else "install", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        message = f"cannot install newman: {exc} {detail.decode(errors='replace')[-500:]}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    assert NEWMAN.exists()
    return NEWMAN


def seed_history(server: LiveServer, account_id: str, environment_id: str) -> dict[str, str]:
    """A river with target and sub-river runs in January 2026, written to the server's DB."""
    group_id = oid()
    river_id, sub_id = oid(), oid()  # names are unique per environment: one seeding per test
    river = RiverRow(river_id, f"Orders nightly {river_id[:6]}", "logic", group_id, scheduled=True)
    sub = RiverRow(sub_id, f"orders step {sub_id[:6]}", "src_to_trgt")
    history = History(account_id, environment_id, [river, sub])
    for day in range(5):
        history.add_group(
            GroupRow(
                rid(),
                river.id,
                "succeeded" if day % 2 else "partially succeeded",
                START + timedelta(days=day),
                trigger="scheduler",
                runs=[
                    RunRow(
                        rid(),
                        "succeeded",
                        Decimal("0.5"),
                        10,
                        1000,
                        1500,
                        "orders",
                        sub_river_id=sub.id,
                    ),
                    RunRow(
                        rid(),
                        "succeeded" if day % 2 else "failed",
                        Decimal("0.25"),
                        5,
                        10,
                        800,
                        "customers",
                        sub_river_id=sub.id,
                    ),
                ],
            )
        )
    engine = make_engine(f"sqlite:///{server.data_dir / 'headwater.db'}")
    try:
        with make_session_factory(engine)() as session:
            write(session, history)
    finally:
        engine.dispose()
    last = history.groups[-1]
    return {
        "river_id": river.id,
        "run_id": last.runs[0].id,
        "group_id": group_id,
        "scheduler_id": last.id,
        "sub_river_id": sub.id,
        "target_name": "orders",
        "search": "nightly",
        "river_type": "logic",
    }


def enabled_values(ids: dict[str, str]) -> dict[str, str]:
    """A valid value for every query parameter the collection ships disabled."""
    return {
        "status": "succeed",
        "group_id": ids["group_id"],
        "is_scheduled": "true",
        "search": ids["search"],
        "river_type": ids["river_type"],
        "scheduler_id": ids["scheduler_id"],
        "sub_river_id": ids["sub_river_id"],
        "target_name": ids["target_name"],
        "sort_by": "RPUs(Units)",
        "sort_order": "asc",
        "page": "1",
        "items_per_page": "50",
        "return_last_runs": "true",
    }


def newman_script(name: str) -> list[str]:
    """Assert status 200, the documented keys, and (the data has runs) non-empty lists."""
    kind, keys = SHAPES[name]
    lines = [
        'pm.test("status 200", function () { pm.response.to.have.status(200); });',
        "const body = pm.response.json();",
        f"const keys = {json.dumps(keys)};",
        "function hasKeys(o) { keys.forEach(function (k) { pm.expect(o).to.have.property(k); }); }",
    ]
    if kind == "object":
        lines.append('pm.test("shape", function () { hasKeys(body); });')
    else:
        if kind == "page":
            page_keys = json.dumps(PAGE_KEYS)
            lines.append(
                f'pm.test("page", function () {{ {page_keys}.forEach(function (k) '
                "{ pm.expect(body).to.have.property(k); }); });"
            )
        lines.append(
            'pm.test("items", function () { pm.expect(body.items).to.be.an("array"); '
            "body.items.forEach(hasKeys); });"
        )
        lines.append(
            'pm.test("not empty", function () { pm.expect(body.items.length).to.be.above(0); });'
        )
    return lines


def working_copy(seed: dict[str, Any], values: dict[str, str] | None) -> dict[str, Any]:
    """The seed with ``{{access_token}}`` auth, test scripts and (optionally) every param on."""
    collection = copy.deepcopy(seed)
    collection["auth"] = {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{access_token}}", "type": "string"}],
    }
    for item in collection["item"]:
        assert item["name"] in SHAPES, item["name"]
        if values is not None:
            for param in item["request"]["url"].get("query", []):
                if param.get("disabled") and param.get("key"):
                    param["disabled"] = False
                    param["value"] = values[param["key"]]
        item["event"] = [
            {
                "listen": "test",
                "script": {
                    "type": "text/javascript",
                    "exec": newman_script(item["name"]),
                },
            }
        ]
    return collection


def run_newman(
    newman: Path, collection: dict[str, Any], env: dict[str, str], tmp: Path
) -> dict[str, Any]:
    source = tmp / "collection.json"
    report = tmp / "report.json"
    source.write_text(json.dumps(collection))
    args = [
        str(newman),
        "run",
        str(source),
        "--reporters",
        "cli,json",
        "--reporter-json-export",
        str(report),
        "--timeout-request",
        "20000",
    ]
    for key, value in env.items():
        args += ["--env-var", f"{key}={value}"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)
    assert report.exists(), result.stdout + result.stderr
    summary: dict[str, Any] = json.loads(report.read_text())
    assert result.returncode == 0, result.stdout[-6000:]
    return summary


def test_seed_collection_against_a_live_server(
    newman: Path, live_server: LiveServer, tmp_path: Path
) -> None:
    minted = live_server.mint_token("activities:list", name="newman")
    ids = seed_history(live_server, minted["account_id"], minted["environment_id"])
    env = {
        "base-url": live_server.url,
        "account_id": minted["account_id"],
        "environment_id": minted["environment_id"],
        "river_id": ids["river_id"],
        "run_id": ids["run_id"],
        "start_date": "2026-01-01T00:00:00",
        "end_date": "2026-12-31T23:59:59",
        "access_token": minted["token"],
    }
    seed = json.loads(SEED_COLLECTION.read_text())
    for name, values in (("as-published", None), ("all-params", enabled_values(ids))):
        folder = tmp_path / name
        folder.mkdir()
        summary = run_newman(newman, working_copy(seed, values), env, folder)
        run = summary["run"]
        assert run["stats"]["requests"]["total"] == len(seed["item"]), name
        assert run["stats"]["assertions"]["failed"] == 0, (name, run["failures"])
        codes = {e["item"]["name"]: e["response"]["code"] for e in run["executions"]}
        assert codes == dict.fromkeys(SHAPES, 200), name
        if values is not None:
            sent = [q for e in run["executions"] for q in e["request"]["url"].get("query", [])]
            assert {"key": "return_last_runs", "value": "true"} in sent
            assert {"key": "sort_by", "value": "RPUs(Units)"} in sent


def test_generated_collection_runs_under_newman(
    newman: Path, live_server: LiveServer, tmp_path: Path
) -> None:
    """Headwater's own collection (``GET /v1/postman_collection``) is valid and runnable."""
    minted = live_server.mint_token("activities:list", name="newman generated")
    ids = seed_history(live_server, minted["account_id"], minted["environment_id"])
    collection = httpx.get(f"{live_server.url}/v1/postman_collection", timeout=30).json()
    variables = {v["key"]: v["value"] for v in collection["variable"]}
    assert variables["base-url"] == live_server.url
    collection["item"] = [f for f in collection["item"] if f["name"] == "activities"]
    requests = len(collection["item"][0]["item"])
    for item in collection["item"][0]["item"]:
        item["event"] = [
            {
                "listen": "test",
                "script": {
                    "type": "text/javascript",
                    "exec": [
                        'pm.test("status 200", function () { pm.response.to.have.status(200); });'
                    ],
                },
            }
        ]
    env = {
        "account_id": minted["account_id"],
        "environment_id": minted["environment_id"],
        "river_id": ids["river_id"],
        "run_group_id": ids["scheduler_id"],
        "start_date": "2026-01-01T00:00:00",
        "end_date": "2026-02-01T00:00:00",
        "access_token": minted["token"],
    }
    run = run_newman(newman, collection, env, tmp_path)["run"]
    assert run["stats"]["requests"]["total"] == requests >= 8
    assert run["stats"]["assertions"]["failed"] == 0, run["failures"]
