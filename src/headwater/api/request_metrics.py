"""API request latency by route, for ``GET /metrics``.

Every request is timed by a pure ASGI middleware and observed in a histogram labelled by method,
route *template* (``/v1/accounts/{account_id}/...``, never the raw path: ids would make one
series per object) and status. Requests that match no route share the label ``unmatched``.

Several API processes (``headwater server --workers N``, or several pods) each time their own
requests. Within one host they share the numbers through prometheus_client's multiprocess mode:
when ``PROMETHEUS_MULTIPROC_DIR`` is set (``headwater server`` and ``up`` set it to
``<data dir>/metrics`` and empty it at start), each process writes its samples to files there and
any process answering a scrape adds up all of them. Without it the numbers are the process's
own. Across hosts, Prometheus scrapes each pod and sums.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """The latency histogram of one app, and where a scrape reads it from."""

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self._registry = CollectorRegistry()
        self.latency = Histogram(
            "headwater_http_request_duration_seconds",
            "API request latency by method, route template and status code.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self._registry,
        )

    def add_to(self, registry: CollectorRegistry) -> None:
        """Register the request metrics of this host (multiprocess) or process in ``registry``."""
        if self.multiprocess_dir is not None:
            MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        else:
            registry.register(_Forward(self._registry))


class _Forward:
    """Collects another registry's metrics (a registry cannot be registered in another)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Any:
        return self._source.collect()


class RequestTiming:
    """Pure ASGI middleware observing each HTTP request's latency in ``RequestMetrics``."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.latency.labels(
                scope.get("method", "GET"), route_label(scope), str(status)
            ).observe(time.perf_counter() - started)


def route_label(scope: Scope) -> str:
    """The matched route's template (under its mount's prefix), or ``unmatched``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not template:
        return "unmatched"
    mount = str(scope.get("root_path", "") or "")
    app_root = str(scope.get("app_root_path", "") or "")
    if app_root and mount.startswith(app_root):
        mount = mount[len(app_root) :]
    return f"{mount}{template}"
