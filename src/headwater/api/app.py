"""The application factory: everything the app needs is built here from ``Settings``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Protocol

from fastapi import FastAPI
from sqlalchemy import Engine

from headwater import __version__
from headwater.api.admission import Admission, slots_for
from headwater.api.errors import install_error_handlers
from headwater.api.input_guard import InputGuard
from headwater.api.limits import BodySizeLimit
from headwater.api.proxy_headers import TrustedProxyHeaders
from headwater.api.request_metrics import RequestMetrics, RequestTiming
from headwater.api.routes import include_routers
from headwater.executors.base import Executor
from headwater.executors.local import LocalExecutor
from headwater.runner.context import RunnerContext
from headwater.security.proxies import parse_networks
from headwater.security.ratelimit import RateLimiter
from headwater.settings import Settings
from headwater.store.base import utcnow
from headwater.store.engine import make_engine, make_session_factory

logger = logging.getLogger(__name__)


class BackgroundService(Protocol):
    """Something that runs beside the API in ``headwater up`` (sweeper, scheduler, executor)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = utcnow,
    background: list[BackgroundService] | None = None,
    executor: Executor | None = None,
) -> FastAPI:
    """Build the API app. ``background`` services start and stop with the app's lifespan.

    Without an ``executor``, runs go to a local thread pool that starts on first use.
    """
    db_engine = engine if engine is not None else make_engine(settings.resolved_database_url())
    services = list(background or [])
    session_factory = make_session_factory(db_engine)
    if executor is None:
        context = RunnerContext(settings=settings, sessions=session_factory, clock=clock)
        executor = LocalExecutor(context, settings.local_workers)
        context.submit = executor.submit

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for service in services:
            service.start()
        try:
            yield
        finally:
            for service in reversed(services):
                service.stop()
            if executor is not None and executor not in services:
                executor.stop()
            if engine is None:
                db_engine.dispose()

    app = FastAPI(
        title="Headwater API",
        version=__version__,
        description="Self-hostable data integration: tokens, data flows (rivers), runs and "
        "activities, wire-compatible with the hosted v1 and legacy APIs.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = db_engine
    app.state.session_factory = session_factory
    app.state.db_admission = Admission(slots_for(db_engine))
    app.state.executor = executor
    app.state.clock = clock
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.background = services
    app.state.request_metrics = RequestMetrics()
    install_error_handlers(app)
    # innermost: it reads the matched route's template the router leaves in the scope
    app.add_middleware(RequestTiming, metrics=app.state.request_metrics)
    app.add_middleware(InputGuard)  # inside the size limit: it buffers bodies
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(TrustedProxyHeaders, networks=parse_networks(settings.trusted_proxies))
    include_routers(app)
    return app
