"""Run in the Dagster venv: headwater-dagster's assets materialized against a live Headwater.

Prints one JSON line (prefixed ``RESULT ``): the asset keys built from the river's definition,
each materialization's metadata, the downstream asset's input and the failing river's error.
"""

from __future__ import annotations

import json
import os
import time

from dagster import AssetKey, DagsterInstance, asset, materialize
from headwater_dagster import HeadwaterResource, build_river_assets

WORLD = json.loads(os.environ["HEADWATER_TEST_WORLD"])


def main() -> None:
    resource = HeadwaterResource(
        base_url=WORLD["url"],
        token=WORLD["token"],
        account_id=WORLD["account_id"],
        environment_id=WORLD["environment_id"],
        poll_interval=0.5,
        timeout=120,
    )
    result: dict = {"timings": {}}
    # target tables read from the river's definition
    loaded = build_river_assets(WORLD["good_river"], resource=resource, key_prefix=["warehouse"])
    result["keys"] = sorted(k.to_user_string() for k in loaded.keys)

    @asset(deps=[AssetKey(["warehouse", "orders_copy"])])
    def orders_report() -> None:
        return None

    instance = DagsterInstance.ephemeral()
    started = time.monotonic()
    done = materialize(
        [loaded, orders_report], resources={"headwater": resource}, instance=instance
    )
    result["timings"]["materialize"] = round(time.monotonic() - started, 2)
    result["success"] = done.success
    result["materializations"] = {
        event.asset_key.to_user_string(): {
            key: getattr(value, "value", value)
            for key, value in event.step_materialization_data.materialization.metadata.items()
        }
        for event in done.get_asset_materialization_events()
    }

    broken = build_river_assets(WORLD["bad_river"], target_tables=["no_such_table_copy"])
    failed = materialize(
        [broken], resources={"headwater": resource}, instance=instance, raise_on_error=False
    )
    result["failed"] = {
        "success": failed.success,
        "errors": [
            str(event.event_specific_data.user_failure_data.description)
            if getattr(event.event_specific_data, "user_failure_data", None)
            else str(event.event_specific_data.error.message)
            for event in failed.get_step_failure_events()
        ],
    }
    print("RESULT " + json.dumps(result, default=str))


if __name__ == "__main__":
    main()
