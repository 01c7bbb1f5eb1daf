"""headwater-dagster with the real ``dagster`` package against a live Headwater.

The integration and the client go into a clean venv of Dagster's own (``orchestrator_venvs``);
the script builds the river's assets from its definition, materializes them with a downstream
asset, and materializes a failing river's asset.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clients.orchestrator_venvs import (
    INSTALL_COMMANDS,
    SCRIPTS,
    install_integration,
    orchestrator_python,
    run_script,
)
from tests.clients.rivers_world import CUSTOMERS_ROWS, ORDERS_ROWS, World

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def test_dagster_materializes_one_asset_per_target_table(world: World, tmp_path: Path) -> None:
    python = orchestrator_python("dagster")
    site = tmp_path / "site"
    install_integration(python, "dagster", site)
    env = {**world.env(), "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()

    done, seconds = run_script(python, site, SCRIPTS / "dagster_assets.py", env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, "\n".join(INSTALL_COMMANDS) + "\n" + output[-6000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1].splitlines()[0])
    print(f"dagster script: {seconds:.1f} s, timings {result['timings']}")

    assert result["keys"] == ["warehouse/customers_copy", "warehouse/orders_copy"]
    assert result["success"] is True
    loaded = result["materializations"]
    assert set(loaded) == {"warehouse/customers_copy", "warehouse/orders_copy", "orders_report"}
    orders, customers = loaded["warehouse/orders_copy"], loaded["warehouse/customers_copy"]
    assert orders["rows"] == ORDERS_ROWS and customers["rows"] == CUSTOMERS_ROWS
    assert orders["status"] == "succeeded" and orders["units"] > 0 and orders["bytes"] > 0
    assert orders["headwater_river_id"] == world.good_river_id
    assert orders["headwater_run_group_id"] == customers["headwater_run_group_id"]

    failed = result["failed"]
    assert failed["success"] is False
    assert any("no_such_table" in error and "failed" in error for error in failed["errors"])
