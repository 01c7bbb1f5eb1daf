"""``GET /metrics``: Prometheus text format for the whole installation.

Off unless ``HEADWATER_METRICS_TOKEN`` is set; then the scraper presents that token as a bearer
token (Prometheus ``authorization.credentials_file``). It is a setting, not an account token
scope, because the numbers cover every account of the installation: they are the operator's,
not a tenant's. Run metrics come from the metadata database at scrape time
(``services/run_metrics.py``), so every API process answers with the same numbers whichever
process or worker ran the runs; request latency comes from ``request_metrics.py``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from headwater.api.deps import SettingsDep, bearer_secret
from headwater.api.request_metrics import RequestMetrics
from headwater.errors import NotAuthenticated, NotFound
from headwater.services import run_metrics
from headwater.services.run_metrics import DURATION_BUCKETS, Histogram, RunMetrics


def metrics_guard(request: Request, settings: SettingsDep) -> None:
    """404 while metrics are off; 401 unless the bearer token is the metrics token."""
    expected = settings.metrics_token
    if expected is None:
        raise NotFound("Metrics are off; set HEADWATER_METRICS_TOKEN to serve GET /metrics")
    given = bearer_secret(request)
    if given is None or not hmac.compare_digest(
        given.encode(), expected.get_secret_value().encode()
    ):
        raise NotAuthenticated("GET /metrics needs the metrics token as a bearer token")


# Not an account token: the route-scope test accepts it as "public" to the token system; the
# guard above is its credential check.
metrics_guard.is_public = True  # type: ignore[attr-defined]

router = APIRouter(tags=["operations"], dependencies=[Depends(metrics_guard)])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RunCollector(request.app.state.session_factory, request.app.state.clock))
    request_metrics: RequestMetrics = request.app.state.request_metrics
    request_metrics.add_to(registry)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class RunCollector(Collector):
    """The run metric families, from one read of the metadata database per scrape."""

    def __init__(self, sessions: sessionmaker[Session], clock: object) -> None:
        self._sessions = sessions
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now: datetime = self._clock()  # type: ignore[operator]
        with self._sessions() as session:
            found = run_metrics.collect(session, now)
        yield from families(found)


def families(found: RunMetrics) -> Iterator[Metric]:
    started = CounterMetricFamily(
        "headwater_runs_started",
        "Run groups started (triggers not skipped).",
        labels=["river_type"],
    )
    for river_type, count in sorted(found.started.items()):
        started.add_metric([river_type], count)
    yield started
    yield _by_type_status(
        "headwater_runs_finished", "Run groups finished, by final status.", found.finished
    )
    yield _by_type_status(
        "headwater_table_runs_finished",
        "Table runs (one per target table) finished, by final status.",
        found.tables_finished,
    )
    for name, doc, values in (
        ("headwater_rows_moved", "Rows moved by finished run groups.", found.rows),
        ("headwater_bytes_moved", "Bytes moved by finished run groups.", found.bytes),
    ):
        family = CounterMetricFamily(name, doc, labels=["river_type"])
        for river_type, value in sorted(values.items()):
            family.add_metric([river_type], value)
        yield family
    yield _histogram(
        "headwater_run_duration_seconds",
        "Duration of finished run groups (trigger to last table).",
        found.run_seconds,
    )
    yield _histogram(
        "headwater_table_duration_seconds", "Duration of finished table runs.", found.table_seconds
    )
    yield GaugeMetricFamily(
        "headwater_queue_depth", "Run groups waiting for a worker.", value=found.pending
    )
    yield GaugeMetricFamily(
        "headwater_queue_oldest_pending_age_seconds",
        "Age of the oldest run group waiting for a worker (0 when none waits).",
        value=found.oldest_pending_seconds,
    )
    yield GaugeMetricFamily(
        "headwater_runs_in_progress", "Run groups running now.", value=found.running
    )
    lag_seconds = GaugeMetricFamily(
        "headwater_cdc_lag_seconds",
        "CDC replication lag by river, in seconds.",
        labels=["river_id"],
    )
    lag_bytes = GaugeMetricFamily(
        "headwater_cdc_lag_bytes", "CDC replication lag by river, in bytes.", labels=["river_id"]
    )
    for lag in found.cdc_lag:
        if lag.seconds is not None:
            lag_seconds.add_metric([lag.river_id], lag.seconds)
        if lag.bytes is not None:
            lag_bytes.add_metric([lag.river_id], lag.bytes)
    yield lag_seconds
    yield lag_bytes


def _by_type_status(name: str, doc: str, values: dict[tuple[str, str], int]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=["river_type", "status"])
    for (river_type, status), count in sorted(values.items()):
        family.add_metric([river_type, status], count)
    return family


def _histogram(name: str, doc: str, values: dict[str, Histogram]) -> Metric:
    family = HistogramMetricFamily(name, doc, labels=["river_type"])
    for river_type, found in sorted(values.items()):
        buckets = [(_bound(b), n) for b, n in zip(DURATION_BUCKETS, found.buckets, strict=True)]
        buckets.append(("+Inf", found.count))
        family.add_metric([river_type], buckets, sum_value=found.total)
    return family


def _bound(bound: float) -> str:
    return str(float(bound))
