"""``HeadwaterRunSensor``: wait for a run group started elsewhere (another task, a schedule)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException
from headwater_client import RunFailed

from headwater_airflow.hooks import HeadwaterHook


class HeadwaterRunSensor(BaseSensorOperator):
    """Succeeds when the run group of ``river`` succeeded; fails (with each failed run's
    ``error_description``) when it ended otherwise. ``run_group_id`` is templated, e.g.
    ``"{{ ti.xcom_pull(task_ids='run_river') }}"``."""

    template_fields: Sequence[str] = ("river", "run_group_id", "headwater_conn_id")

    def __init__(
        self,
        *,
        river: str,
        run_group_id: str,
        headwater_conn_id: str = HeadwaterHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.river = river
        self.run_group_id = run_group_id
        self.headwater_conn_id = headwater_conn_id

    def poke(self, context: Any) -> bool:
        with HeadwaterHook(self.headwater_conn_id).get_client() as client:
            group = client.run_groups.get(self.river, self.run_group_id)
        self.log.info("Run group %s is %s", group.run_group_id, group.status)
        if not group.finished:
            return False
        if not group.ok:
            raise AirflowException(str(RunFailed(group)))
        return True
