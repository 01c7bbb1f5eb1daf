"""OpenTelemetry traces of runs: trigger → run → table → load, exported over OTLP/HTTP.

Spans are made through OpenTelemetry's global API everywhere (a no-op until a provider is set),
so code that starts spans never knows whether tracing is on. ``configure_tracing`` sets the
process's provider when ``HEADWATER_OTLP_ENDPOINT`` is set; each process (API, scheduler,
worker) calls it at start. A trigger and the run it starts usually happen in different
processes, so the trigger span's W3C ``traceparent`` is stored on the run group
(``run_groups.trace_context``) and the worker continues the trace from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from headwater.settings import Settings

logger = logging.getLogger(__name__)

TRACER = "headwater"
_PROPAGATOR = TraceContextTextMapPropagator()


def configure_tracing(settings: Settings, exporter: Any = None) -> Any:
    """Install a tracer provider exporting to the OTLP endpoint; None when tracing is off.

    ``exporter`` replaces the OTLP exporter (tests pass the SDK's in-memory one).
    """
    if not settings.otlp_endpoint and exporter is None:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = str(settings.otlp_endpoint).rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        exporter = OTLPSpanExporter(endpoint=endpoint, headers=_headers(settings))
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    logger.info("run traces go to %s", settings.otlp_endpoint or "a custom exporter")
    return provider


def _headers(settings: Settings) -> dict[str, str]:
    raw = settings.otlp_headers.get_secret_value() if settings.otlp_headers else ""
    pairs = (part.split("=", 1) for part in raw.split(",") if "=" in part)
    return {key.strip(): value.strip() for key, value in pairs}


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER)


def current_trace_context() -> str | None:
    """The current span's ``traceparent``, to store on a run group (None when not tracing)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def stored_context(traceparent: str | None) -> Context | None:
    return _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None


@contextmanager
def span(name: str, context: Context | None = None, **attributes: Any) -> Iterator[trace.Span]:
    """A span named ``name`` (child of ``context`` or of the current span)."""
    attrs = {f"headwater.{k}": v for k, v in attributes.items() if v is not None}
    with tracer().start_as_current_span(name, context=context, attributes=attrs) as current:
        yield current
