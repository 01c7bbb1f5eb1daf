"""headwater-airflow with the real ``apache-airflow`` 3 against a live Headwater.

The provider and the client are installed from this checkout into a clean venv of Airflow's
own (``orchestrator_venvs``); a DAG file runs with ``dag.test()``: a deferrable run of a river
(waiting in the in-process triggerer), a sensor on the run group id taken from XCom, a failing
river whose task fails with the run's ``error_description``, a run waiting in the worker, and
the trigger's ``on_kill`` cancelling a running river.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.clients.orchestrator_venvs import SCRIPTS, migrated_home, prepared, script_result
from tests.clients.rivers_world import World

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }


def test_airflow_dag_runs_rivers_deferrable_and_fails_cleanly(world: World, tmp_path: Path) -> None:
    python, site = prepared("airflow", tmp_path)
    template = migrated_home(python, ["airflow", "db", "migrate"], "AIRFLOW_HOME")
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    shutil.copy(template / "airflow.db", home / "airflow.db")
    dag_file = home / "dags" / "headwater_dags.py"
    shutil.copy(SCRIPTS / "airflow_dags.py", dag_file)
    env = {**world.env(), **airflow_env(home), "HW_REPORT": str(tmp_path / "report.json")}

    result = script_result(python, site, dag_file, env)
    output = result["output"]
    print(f"dag.test timings {result['timings']}")

    provider = result["provider"]
    assert provider["package"] and provider["hook_class"] == "headwater_airflow.hooks.HeadwaterHook"
    assert provider["field_behaviour"]["relabeling"] == {
        "host": "Base URL",
        "password": "API token",
    }
    assert result["connection_test"][0] is True

    ok = result["ok"]
    assert ok["state"] == "success", output[-6000:]
    assert set(ok["tasks"].values()) == {"success"}
    assert ok["xcom"]["river_id"] == world.good_river_id
    assert len(ok["xcom"]["run_group_id"]) == 32
    # the operator came back from the triggerer with the run group's final status
    assert ok["trigger_event"]["status"] == "succeeded"
    assert ok["trigger_event"]["run_group_id"] == ok["xcom"]["run_group_id"]

    failing = result["failing"]
    assert failing["state"] == "failed"
    assert failing["tasks"] == {"run_broken_river": "failed"}
    assert failing["failures"], output[-4000:]
    assert "no_such_table" in failing["failures"][0]
    assert "failed" in failing["failures"][0]

    assert result["blocking"]["state"] == "success"
    assert result["killed"]["status"] == "canceled"
