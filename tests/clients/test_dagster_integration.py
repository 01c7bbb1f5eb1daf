"""headwater-dagster with the real ``dagster`` package against a live Headwater.

The integration and the client go into a clean venv of Dagster's own (``orchestrator_venvs``);
the script builds the river's assets from its definition, materializes them with a downstream
asset, and materializes a failing river's asset.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clients.orchestrator_venvs import SCRIPTS, prepared, script_result
from tests.clients.rivers_world import CUSTOMERS_ROWS, ORDERS_ROWS, World

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def test_dagster_materializes_one_asset_per_target_table(world: World, tmp_path: Path) -> None:
    python, site = prepared("dagster", tmp_path)
    (tmp_path / "dagster").mkdir()
    env = {**world.env(), "DAGSTER_HOME": str(tmp_path / "dagster")}
    result = script_result(python, site, SCRIPTS / "dagster_assets.py", env)

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
