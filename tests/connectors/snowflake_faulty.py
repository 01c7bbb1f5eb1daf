"""A Snowflake target that fails (or kills its own process) at a chosen point of a real load.

Registered through a Registry like a third-party plugin, so the engine and the Snowflake
connector under test are the production ones; the fakesnow server is a separate process.
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from typing import Any

import pyarrow as pa

from headwater.connectors.base import ConnectorSpec, Loader, LoadPlan, PropertySpec
from headwater.connectors.registry import Registry
from headwater.connectors.snowflake.spec import spec as snowflake_spec
from headwater.connectors.snowflake.target import SnowflakeLoader, SnowflakeTarget


class InjectedFailure(RuntimeError):
    """Raised by the faulty target; never by production code."""


class FaultySnowflakeLoader(SnowflakeLoader):
    fail_at = ""
    writes = 0

    def _fail(self, point: str) -> None:
        if self.fail_at == point:
            raise InjectedFailure(f"injected failure at {point}")
        if self.fail_at == f"kill:{point}":
            os.kill(os.getpid(), signal.SIGKILL)

    def write(self, batch: pa.RecordBatch) -> None:
        super().write(batch)
        self.writes += 1
        if self.writes >= 1:
            self._fail("write")

    def _copy_staged(self) -> None:
        super()._copy_staged()
        self._fail("staged")

    def _publish(self) -> None:
        super()._publish()
        self._fail("published")


class FaultySnowflakeTarget(SnowflakeTarget):
    def __init__(self, props: dict[str, Any]) -> None:
        props = dict(props)
        self.fail_at = str(props.pop("fail_at", "") or "")
        super().__init__(props)

    def begin(self, plan: LoadPlan) -> Loader:
        FaultySnowflakeLoader.fail_at = self.fail_at
        return self._loaders.add(FaultySnowflakeLoader(self, plan))


def faulty_spec() -> ConnectorSpec:
    base = snowflake_spec()
    return replace(
        base,
        name="faulty_snowflake",
        properties=(*base.properties, PropertySpec("fail_at", "string")),
        target_class=f"{__name__}:FaultySnowflakeTarget",
    )


def faulty_registry() -> Registry:
    registry = Registry.default(plugins=False)
    registry.register(faulty_spec())
    return registry
