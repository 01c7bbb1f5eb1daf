"""Run traces over OTLP/HTTP: a real copy's trigger, run, table and load spans arrive at an
in-process OTLP receiver through the same ``configure_tracing`` the processes call."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.util._once import Once
from pydantic import SecretStr
from sqlalchemy import Engine

from headwater.server import create_server_app
from headwater.services.bootstrap import BootstrapResult
from headwater.services.tracing import configure_tracing
from headwater.settings import Settings
from tests.api.test_metrics import ROWS, pg_pair  # noqa: F401 (fixture)
from tests.api.test_runs_api import Env
from tests.api.tokenhelp import mint
from tests.conftest import FakeClock

pytestmark = pytest.mark.anyio


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    received: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _reset_global_provider() -> None:
    # OpenTelemetry sets a process's provider once; tests start each from none
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


@pytest.fixture
def traced_app(
    settings: Settings,
    engine: Engine,
    clock: FakeClock,
    receiver: tuple[str, list[Any]],
) -> Iterator[tuple[FastAPI, Any]]:
    url, _ = receiver
    traced = settings.model_copy(
        update={
            "otlp_endpoint": url,
            "otlp_headers": SecretStr("x-api-key=k123"),
            "service_name": "headwater-test",
        }
    )
    _reset_global_provider()
    provider = configure_tracing(traced)
    application = create_server_app(traced, engine=engine, clock=clock)
    yield application, provider
    application.state.executor.stop()
    provider.shutdown()
    _reset_global_provider()


async def test_a_run_is_one_trace_from_trigger_to_load(
    traced_app: tuple[FastAPI, Any],
    bootstrap: BootstrapResult,
    pg_pair: tuple[str, str],  # noqa: F811
    receiver: tuple[str, list[tuple[str, dict[str, str], bytes]]],
) -> None:
    app, provider = traced_app
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        token = mint(app.state.session_factory, bootstrap.account_id, created_by=bootstrap.admin_id)
        env = Env(client, bootstrap, token)
        river_id = await env.river(pg_pair, table={"name": "events"})
        started = await env.call("POST", f"{env.prefix}/rivers/{river_id}/run", 202)
        run = await env.wait_run(river_id, started["runs"][0]["run_id"])
        assert run["status"] == "succeeded"
    app.state.executor.stop()  # the run's spans end before the flush
    assert provider.force_flush(10_000)

    _, received = receiver
    spans: dict[str, Any] = {}
    for path, headers, body in received:
        assert path == "/v1/traces" and headers.get("x-api-key") == "k123"
        request = ExportTraceServiceRequest.FromString(body)
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert service["service.name"] == "headwater-test"
            for scope in resource.scope_spans:
                for one in scope.spans:
                    spans[one.name] = one
    assert {"headwater.trigger", "headwater.run", "headwater.table", "headwater.load"} <= set(spans)
    trigger, group, table, load = (
        spans[f"headwater.{n}"] for n in ("trigger", "run", "table", "load")
    )
    assert len({s.trace_id for s in (trigger, group, table, load)}) == 1  # one trace
    assert group.parent_span_id == trigger.span_id
    assert table.parent_span_id == group.span_id
    assert load.parent_span_id == table.span_id
    attributes = {a.key: a.value for a in load.attributes}
    assert attributes["headwater.rows"].int_value == ROWS
    table_attributes = {a.key: a.value for a in table.attributes}
    assert table_attributes["headwater.status"].string_value == "succeeded"
    assert {a.key: a.value for a in trigger.attributes}["headwater.river_id"].string_value == (
        river_id
    )
