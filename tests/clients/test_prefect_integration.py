"""headwater-prefect with the real ``prefect`` package against a live Headwater.

The integration and the client go into a clean venv of Prefect's own (``orchestrator_venvs``);
the flows run on Prefect's temporary local server (``PREFECT_HOME`` in the test's directory).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.clients.orchestrator_venvs import SCRIPTS, migrated_home, prepared, script_result
from tests.clients.rivers_world import CUSTOMERS_ROWS, ORDERS_ROWS, World

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def test_prefect_tasks_and_flow_run_rivers(world: World, tmp_path: Path) -> None:
    python, site = prepared("prefect", tmp_path)
    template = migrated_home(
        python, ["prefect", "server", "database", "upgrade", "-y"], "PREFECT_HOME"
    )
    (tmp_path / "prefect").mkdir()
    shutil.copy(template / "prefect.db", tmp_path / "prefect" / "prefect.db")
    env = {
        **world.env(),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": "",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }

    result = script_result(python, site, SCRIPTS / "prefect_flows.py", env)

    flow = result["flow"]
    assert flow["status"] == "succeeded" and len(flow["run_group_id"]) == 32
    assert flow["rows"] == {"orders_copy": ORDERS_ROWS, "customers_copy": CUSTOMERS_ROWS}
    assert flow["units"] > 0

    user = result["user_flow"]
    assert user["loaded"] == {"status": "succeeded", "rows": ORDERS_ROWS + CUSTOMERS_ROWS}
    assert user["cancel_requested"] is True and user["slow"] == "canceled"

    failing = result["failing"]
    assert failing["type"] == "StateType.FAILED"
    assert failing["error"].startswith("RunFailed") and "no_such_table" in failing["error"]
