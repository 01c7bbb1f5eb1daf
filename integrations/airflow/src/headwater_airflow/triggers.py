"""``HeadwaterRunTrigger``: waits for a run group in the triggerer, without a worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from headwater_client import Conflict, HeadwaterError, RunFailed

from headwater_airflow.hooks import HeadwaterHook


class HeadwaterRunTrigger(BaseTrigger):
    """Polls the run group every ``poll_interval`` s; fires once when it ends, fails or times out.

    The event is ``{"status", "run_group_id", "river_id", "message"}``: ``status`` is the run
    group's final status, ``timeout`` past ``end_time`` (epoch seconds) or ``error`` when
    Headwater could not be asked; ``message`` carries each failed run's error description.
    """

    def __init__(
        self,
        headwater_conn_id: str,
        river_id: str,
        run_group_id: str,
        poll_interval: float = 10.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        self.headwater_conn_id = headwater_conn_id
        self.river_id = river_id
        self.run_group_id = run_group_id
        self.poll_interval = poll_interval
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__name__}",
            {
                "headwater_conn_id": self.headwater_conn_id,
                "river_id": self.river_id,
                "run_group_id": self.run_group_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    def _event(self, status: str, message: str) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "run_group_id": self.run_group_id,
                "river_id": self.river_id,
                "message": message,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            client = await HeadwaterHook(self.headwater_conn_id).aget_client()
            async with client:
                while True:
                    group = await client.run_groups.get(self.river_id, self.run_group_id)
                    if group.finished:
                        message = "succeeded" if group.ok else str(RunFailed(group))
                        yield self._event(group.status, message)
                        return
                    if self.end_time is not None and time.time() >= self.end_time:
                        yield self._event(
                            "timeout", f"run group {self.run_group_id} still {group.status}"
                        )
                        return
                    self.log.info("Run group %s is %s", self.run_group_id, group.status)
                    await asyncio.sleep(self.poll_interval)
        except HeadwaterError as exc:
            yield self._event("error", str(exc))

    async def on_kill(self) -> None:
        """The deferred task was killed (marked failed or cleared): cancel the run group."""
        client = await HeadwaterHook(self.headwater_conn_id).aget_client()
        async with client:
            try:
                await client.rivers.cancel(self.river_id, run_group_id=self.run_group_id)
            except Conflict as exc:  # it ended meanwhile
                self.log.info("Run group %s not canceled: %s", self.run_group_id, exc.message)
