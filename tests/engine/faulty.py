"""Test-only connectors that fail (or dawdle) at chosen points of a real PostgreSQL load.

They subclass the real PostgreSQL connector and are registered through a Registry like any
third-party plugin, so the engine under test is the production engine.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pyarrow as pa

from headwater.connectors.base import (
    ConnectorSpec,
    CursorState,
    Loader,
    LoadPlan,
    PropertySpec,
    ReadRequest,
)
from headwater.connectors.postgres.source import PostgresSource
from headwater.connectors.postgres.spec import spec as postgres_spec
from headwater.connectors.postgres.target import PostgresLoader, PostgresTarget
from headwater.connectors.registry import Registry


class InjectedFailure(RuntimeError):
    """Raised by the faulty connectors; never raised by production code."""


def _split(props: dict[str, Any]) -> tuple[dict[str, Any], str, float]:
    props = dict(props)
    fail_at = str(props.pop("fail_at", "") or "")
    delay = float(props.pop("delay", 0) or 0)
    return props, fail_at, delay


class FaultyLoader(PostgresLoader):
    fail_at = ""
    delay = 0.0
    writes = 0

    def _tick(self) -> None:
        self.writes += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail_at.startswith("write:") and self.writes >= int(self.fail_at.split(":")[1]):
            raise InjectedFailure(f"injected failure after {self.writes} writes")

    def write(self, batch: pa.RecordBatch) -> None:
        super().write(batch)
        self._tick()

    def write_native(self, chunk: bytes) -> None:
        super().write_native(chunk)
        self._tick()

    def _publish(self) -> None:
        if self.fail_at == "before_publish":
            raise InjectedFailure("injected failure before publishing")
        super()._publish()
        if self.fail_at == "after_publish":
            raise InjectedFailure("injected failure after publishing, before the state")

    def _write_state(self, state: CursorState) -> None:
        super()._write_state(state)
        if self.fail_at == "after_state":
            raise InjectedFailure("injected failure after writing the state, before COMMIT")


class FaultyTarget(PostgresTarget):
    def __init__(self, props: dict[str, Any]) -> None:
        clean, self.fail_at, self.delay = _split(props)
        super().__init__(clean)

    def begin(self, plan: LoadPlan) -> Loader:
        FaultyLoader.fail_at = self.fail_at
        FaultyLoader.delay = self.delay
        loader = FaultyLoader(self, plan)
        self._loaders.append(loader)
        return loader


class FaultySource(PostgresSource):
    def __init__(self, props: dict[str, Any]) -> None:
        clean, self.fail_at, self.delay = _split(props)
        super().__init__(clean)

    def _count(self, items: Any) -> Any:
        for index, item in enumerate(items, start=1):
            if self.delay:
                time.sleep(self.delay)
            if self.fail_at.startswith("read:") and index >= int(self.fail_at.split(":")[1]):
                raise InjectedFailure(f"injected read failure after {index} items")
            yield item

    def read(self, request: ReadRequest) -> Any:
        return self._count(super().read(request))

    def read_native(self, request: ReadRequest) -> Any:
        return self._count(super().read_native(request))


def faulty_spec(name: str, *, native: bool) -> ConnectorSpec:
    base = postgres_spec()
    extra = (PropertySpec("fail_at", "string"), PropertySpec("delay", "string"))
    capabilities = base.capabilities
    if not native:
        capabilities = replace(capabilities, native_stream_format=None)
    return replace(
        base,
        name=name,
        properties=base.properties + extra,
        capabilities=capabilities,
        source_class=f"{__name__}:FaultySource",
        target_class=f"{__name__}:FaultyTarget",
    )


def faulty_registry() -> Registry:
    """Built-ins plus ``faulty_pg`` (native path) and ``faulty_pg_arrow`` (Arrow path)."""
    registry = Registry.default(plugins=False)
    registry.register(faulty_spec("faulty_pg", native=True))
    registry.register(faulty_spec("faulty_pg_arrow", native=False))
    return registry
