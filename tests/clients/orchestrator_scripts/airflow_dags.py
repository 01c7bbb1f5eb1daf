"""A DAG file using headwater-airflow against a live Headwater, run with ``dag.test()``.

The test copies it into a throwaway AIRFLOW_HOME's dags folder (``dag.test()`` runs DAGs of a
bundle) and runs it with the Airflow venv's Python. Run as a script it prints one JSON line
(prefixed ``RESULT ``) with what the test asserts: the provider as Airflow's ProvidersManager
sees it, the connection test, each DAG run's state, XCom values and the failure message of the
failing river.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

WORLD = json.loads(os.environ["HEADWATER_TEST_WORLD"])
REPORT = Path(os.environ["HW_REPORT"])
os.environ["AIRFLOW_CONN_HEADWATER_DEFAULT"] = json.dumps(
    {
        "conn_type": "headwater",
        "host": WORLD["url"],
        "password": WORLD["token"],
        "extra": {"account_id": WORLD["account_id"], "environment_id": WORLD["environment_id"]},
    }
)

from airflow.sdk import DAG, task  # noqa: E402
from headwater_airflow import (  # noqa: E402
    HeadwaterHook,
    HeadwaterRunRiverOperator,
    HeadwaterRunSensor,
    HeadwaterRunTrigger,
)

START = datetime(2025, 1, 1, tzinfo=UTC)


class RecordingRunRiverOperator(HeadwaterRunRiverOperator):
    """Notes that the task came back from the triggerer (it really deferred)."""

    def execute_complete(self, context, event):
        Path(f"{REPORT}.deferred").write_text(json.dumps(event))
        return super().execute_complete(context, event)


# -- a river that succeeds: deferrable, then a sensor on the XCom'd run group -------------------
with DAG(
    "headwater_ok", schedule=None, start_date=START, params={"river": WORLD["good_river"]}
) as ok_dag:
    run = RecordingRunRiverOperator(
        task_id="run_river",
        river="{{ params.river }}",
        variables={"day": "{{ ds }}"},
        deferrable=True,
        poll_interval=0.5,
        timeout=120,
    )
    sensor = HeadwaterRunSensor(
        task_id="check_run",
        river="{{ ti.xcom_pull(task_ids='run_river', key='river_id') }}",
        run_group_id="{{ ti.xcom_pull(task_ids='run_river') }}",
        poke_interval=0.5,
        timeout=60,
    )

    @task
    def report(ti=None) -> None:
        pulled = {
            "run_group_id": ti.xcom_pull(task_ids="run_river"),
            "river_id": ti.xcom_pull(task_ids="run_river", key="river_id"),
        }
        REPORT.write_text(json.dumps(pulled))

    run >> sensor >> report()


# -- a river that fails: the task fails with the run's error_description ------------------------
def remember_failure(context) -> None:
    with open(f"{REPORT}.failure", "a") as handle:
        handle.write(str(context.get("exception")) + "\n")


with DAG("headwater_fails", schedule=None, start_date=START) as bad_dag:
    HeadwaterRunRiverOperator(
        task_id="run_broken_river",
        river=WORLD["bad_river"],
        deferrable=True,
        poll_interval=0.5,
        timeout=120,
        retries=0,
        on_failure_callback=remember_failure,
    )

# -- waiting in the worker (not deferrable) -----------------------------------------------------
with DAG("headwater_blocking", schedule=None, start_date=START) as blocking_dag:
    HeadwaterRunRiverOperator(
        task_id="wait_in_worker", river=WORLD["good_river_id"], poll_interval=0.5
    )


def main() -> None:
    from airflow.providers_manager import ProvidersManager

    result: dict = {"timings": {}}

    def timed(name, dag):
        started = time.monotonic()
        dag_run = dag.test()
        result["timings"][name] = round(time.monotonic() - started, 2)
        return {
            "state": str(dag_run.state),
            "tasks": {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()},
        }

    manager = ProvidersManager()
    hook_info = manager.hooks.get("headwater")
    result["provider"] = {
        "package": "headwater-airflow" in manager.providers,
        "hook_class": getattr(hook_info, "hook_class_name", None),
        "field_behaviour": manager.field_behaviours.get("headwater"),
    }
    result["connection_test"] = HeadwaterHook().test_connection()

    result["ok"] = timed("ok_dag", ok_dag)
    result["ok"]["xcom"] = json.loads(REPORT.read_text())
    result["ok"]["trigger_event"] = json.loads(Path(f"{REPORT}.deferred").read_text())
    result["failing"] = timed("failing_dag", bad_dag)
    failure_file = Path(f"{REPORT}.failure")
    result["failing"]["failures"] = (
        failure_file.read_text().splitlines() if failure_file.exists() else []
    )
    result["blocking"] = timed("blocking_dag", blocking_dag)

    # on kill: the trigger cancels a run group that is still running
    with HeadwaterHook().get_client() as client:
        started = client.rivers.run(WORLD["slow_river"])
        trigger = HeadwaterRunTrigger("headwater_default", started.river_id, started.run_group_id)
        asyncio.run(trigger.on_kill())
        ended = client.run_groups.wait(
            started.river_id, started.run_group_id, timeout=60, poll_interval=0.5
        )
        result["killed"] = {"status": ended.status}

    print("RESULT " + json.dumps(result, default=str))


if __name__ == "__main__":
    main()
