"""Run in the Prefect venv: headwater-prefect's tasks and flow against a live Headwater.

Prints one JSON line (prefixed ``RESULT ``): the ready-made flow's answer, a user flow's task
results (run, then trigger + wait + cancel) and the failing river's flow state and message.
"""

from __future__ import annotations

import json
import os
import time

from headwater_prefect import (
    HeadwaterCredentials,
    cancel_run_group,
    run_river,
    run_river_flow,
    trigger_river,
    wait_for_run_group,
)
from prefect import flow

WORLD = json.loads(os.environ["HEADWATER_TEST_WORLD"])
CREDENTIALS = HeadwaterCredentials(
    base_url=WORLD["url"],
    token=WORLD["token"],
    account_id=WORLD["account_id"],
    environment_id=WORLD["environment_id"],
)


@flow
def user_flow() -> dict:
    loaded = run_river(
        CREDENTIALS,
        WORLD["good_river"],
        variables={"day": "2025-01-01"},
        poll_interval=0.5,
        timeout=120,
    )
    slow = trigger_river(CREDENTIALS, WORLD["slow_river"])
    cancel = cancel_run_group(CREDENTIALS, slow.river_id, slow.run_group_id)
    ended = wait_for_run_group(
        CREDENTIALS,
        slow.river_id,
        slow.run_group_id,
        timeout=60,
        poll_interval=0.5,
        raise_on_failure=False,
    )
    return {
        "loaded": {"status": loaded.status, "rows": loaded.total_rows},
        "cancel_requested": cancel.cancel_requested,
        "slow": ended.status,
    }


def main() -> None:
    result: dict = {"timings": {}}
    started = time.monotonic()
    result["flow"] = run_river_flow(
        CREDENTIALS, WORLD["good_river_id"], timeout=120, poll_interval=0.5
    )
    result["user_flow"] = user_flow()
    state = run_river_flow(
        CREDENTIALS, WORLD["bad_river"], timeout=120, poll_interval=0.5, return_state=True
    )
    result["failing"] = {"type": str(state.type), "message": str(state.message)}
    try:
        state.result()
    except Exception as exc:  # the flow's exception: RunFailed
        result["failing"]["error"] = f"{type(exc).__name__}: {exc}"
    result["timings"]["flows"] = round(time.monotonic() - started, 2)
    print("RESULT " + json.dumps(result, default=str))


if __name__ == "__main__":
    main()
