"""``HeadwaterRunRiverOperator``: run a river from a DAG and (optionally) wait for it.

The run group id is the task's return value (XCom ``return_value``); the river's id is pushed as
XCom ``river_id``. Waiting happens in the worker (``deferrable=False``) or in the triggerer
(``deferrable=True``: the worker slot is released while the river runs). A run group that ends
in any status but ``succeeded`` fails the task with each failed run's ``error_description``.
Killing the task (or the deferred trigger) cancels the run group.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException
from headwater_client import Conflict, RunFailed, WaitTimeout

from headwater_airflow.hooks import HeadwaterHook
from headwater_airflow.triggers import HeadwaterRunTrigger


class HeadwaterRunRiverOperator(BaseOperator):
    """Trigger ``river`` (an id or exact name) with optional run ``variables``."""

    template_fields: Sequence[str] = ("river", "variables", "headwater_conn_id")
    template_fields_renderers = {"variables": "json"}
    ui_color = "#d9f1f7"

    def __init__(
        self,
        *,
        river: str,
        variables: Mapping[str, Any] | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = False,
        poll_interval: float = 10.0,
        timeout: float | None = None,
        headwater_conn_id: str = HeadwaterHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.river = river
        self.variables = variables
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.headwater_conn_id = headwater_conn_id
        self.river_id: str | None = None
        self.run_group_id: str | None = None

    def execute(self, context: Any) -> str:
        hook = HeadwaterHook(self.headwater_conn_id)
        with hook.get_client() as client:
            river = client.rivers.get(self.river)
            group = client.rivers.run(river.river_id, variables=self.variables or None)
            self.river_id, self.run_group_id = river.river_id, group.run_group_id
            context["ti"].xcom_push(key="river_id", value=river.river_id)
            self.log.info("Started run group %s of river %s", group.run_group_id, river.name)
            if not self.wait_for_completion:
                return group.run_group_id
            if self.deferrable:
                self.defer(
                    trigger=HeadwaterRunTrigger(
                        self.headwater_conn_id,
                        river.river_id,
                        group.run_group_id,
                        self.poll_interval,
                        None if self.timeout is None else time.time() + self.timeout,
                    ),
                    method_name="execute_complete",
                )
            try:
                finished = client.run_groups.wait(
                    river.river_id,
                    group.run_group_id,
                    timeout=self.timeout,
                    poll_interval=self.poll_interval,
                    raise_on_failure=True,
                )
            except (RunFailed, WaitTimeout) as exc:
                raise AirflowException(str(exc)) from None
        self.log.info("Run group %s succeeded: %s rows", finished.run_group_id, finished.total_rows)
        return finished.run_group_id

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        """Back from the triggerer: the run group's final status."""
        if event["status"] != "succeeded":
            raise AirflowException(event["message"])
        self.log.info("Run group %s succeeded", event["run_group_id"])
        return str(event["run_group_id"])

    def on_kill(self) -> None:
        if self.river_id is None or self.run_group_id is None:
            return
        with HeadwaterHook(self.headwater_conn_id).get_client() as client:
            try:
                answer = client.rivers.cancel(self.river_id, run_group_id=self.run_group_id)
            except Conflict as exc:  # it ended meanwhile
                self.log.info("Run group %s not canceled: %s", self.run_group_id, exc.message)
                return
        self.log.info("Cancel requested for run group %s: %s", answer.run_group_id, answer.status)
