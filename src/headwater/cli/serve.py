"""``headwater up`` and ``headwater server``: serve the API (and, for ``up``, everything else)."""

from __future__ import annotations

import gc
import os
import shutil
import signal
from typing import Any

import typer

from headwater.cli.common import Metadata, ensure_configured_account, open_metadata
from headwater.settings import Settings

KEEP_ALIVE_SECONDS = 65
#: prometheus_client's switch to multiprocess mode (``api/request_metrics.py``).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _uvicorn_config(app: Any, host: str, port: int, **extra: Any) -> Any:
    import uvicorn

    # Keep idle connections longer than client pools and load balancers do (60 s is common):
    # uvicorn's 5 s default closes them under clients that are about to reuse them, and those
    # requests fail with a connection reset (seen in bench/load_test.py).
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # uvicorn believes X-Forwarded-* from any loopback peer; the app does it itself, for
        # HEADWATER_TRUSTED_PROXIES only (api/proxy_headers.py)
        proxy_headers=False,
        **extra,
    )


def _quiet_signals() -> None:
    # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
    # that was installed before it; a no-op handler there makes a clean stop exit with 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)


def tune_gc(settings: Settings) -> None:
    """Freeze what exists now out of the garbage collector and collect the young less often.

    Call once an API process has built its app, just before it serves. Every request leaves
    cyclic garbage (framework, ORM, validation), so collections are frequent, and each full
    one walked every module, mapper, route and schema of the app while all threads waited:
    under the load test, 9.4 s of 49 s of the API's CPU and the tail of the latency (p95
    320 ms, 220 ms frozen; docs/reliability.md, fifth pass).
    """
    gc.collect()
    gc.freeze()
    if settings.api_gc_threshold:
        # the older generations at 20 and 100 collections of the one below (Python: 10, 10),
        # the configuration measured
        gc.set_threshold(settings.api_gc_threshold, 20, 100)


def _serve(metadata: Metadata, host: str, port: int, *, all_in_one: bool) -> None:
    import uvicorn

    from headwater.logconfig import configure_logging
    from headwater.runtime import build_runtime
    from headwater.server import create_server_app
    from headwater.services.tracing import configure_tracing
    from headwater.store.base import utcnow

    configure_logging(metadata.settings.log_level, metadata.settings.log_format)
    configure_tracing(metadata.settings)
    runtime = build_runtime(metadata.settings, metadata.sessions, utcnow, with_scheduler=all_in_one)
    app = create_server_app(
        metadata.settings,
        engine=metadata.engine,
        background=runtime.services,
        executor=runtime.executor,
    )
    _quiet_signals()
    tune_gc(metadata.settings)
    uvicorn.Server(_uvicorn_config(app, host, port)).run()
    metadata.engine.dispose()
    typer.echo("Headwater stopped")


def _serve_workers(
    metadata: Metadata, host: str, port: int, workers: int, *, all_in_one: bool
) -> None:
    """``workers`` API processes on one socket (uvicorn's supervisor), each with its executor.

    Each API process builds its app from the environment (``app_from_environment`` below).
    With ``all_in_one`` (``headwater up``) this supervising process runs what
    ``headwater scheduler`` runs (scheduler, reaper, token sweeper), once for all of them.
    """
    from uvicorn.supervisors import Multiprocess

    from headwater.logconfig import configure_logging
    from headwater.runtime import build_runtime
    from headwater.store.base import utcnow

    settings = metadata.settings
    configure_logging(settings.log_level)
    services: list[Any] = []
    if all_in_one:
        services = build_runtime(settings, metadata.sessions, utcnow, with_scheduler=True).services
    config = _uvicorn_config(
        "headwater.cli.serve:app_from_environment", host, port, factory=True, workers=workers
    )
    for service in services:
        service.start()
    try:
        sockets = [config.bind_socket()]
        Multiprocess(config, sockets=sockets).run()
    finally:
        for service in reversed(services):
            service.stop()
        metadata.engine.dispose()
    typer.echo("Headwater stopped")


def _bootstrap_and_greet(metadata: Metadata, host: str, port: int) -> None:
    from headwater.security.crypto import SecretBox
    from headwater.services.river_reseal import reseal_clear_secrets

    settings = metadata.settings
    settings.resolved_secret_key()  # generate the encryption key file on first start
    with metadata.sessions() as session:
        result = ensure_configured_account(session, settings)
        _report_local_paths(session, settings)
        reseal_clear_secrets(session, SecretBox.from_settings(settings))
    url = settings.public_url or f"http://{host}:{port}"
    typer.echo(f"Headwater is serving at {url}  (API docs: {url}/docs)")
    typer.echo(f"metadata database: {settings.masked_database_url()}")
    typer.echo(f"account {result.account_id}, default environment {result.environment_id}")
    if result.generated_password:
        typer.echo(
            f"log in as {result.admin_email} with the generated password "
            f"{result.generated_password}  (shown once; set HEADWATER_ADMIN_PASSWORD to choose it)"
        )
    else:
        typer.echo(f"log in as {result.admin_email} with your admin password")
    typer.echo("API tokens: `headwater tokens create --name NAME --scope river:list ...`")


def _report_local_paths(session: Any, settings: Settings) -> None:
    """Warn about stored connections the local-path rule would refuse today."""
    from headwater.security.local_paths import LocalPathPolicy
    from headwater.services.connections import local_path_findings

    for line in local_path_findings(session, LocalPathPolicy.from_settings(settings)):
        typer.echo(f"warning: {line}", err=True)


def app_from_environment() -> Any:
    """One API process of ``headwater server --workers N`` (uvicorn calls this in each).

    Settings come from the environment like the supervisor's; the supervisor migrated and
    bootstrapped the metadata DB before starting this process. Every API process has its own
    executor, reaper and webhook dispatcher; the scheduler runs elsewhere (the supervisor of
    ``headwater up``, or ``headwater scheduler``).
    """
    from headwater.logconfig import configure_logging
    from headwater.runtime import build_runtime
    from headwater.server import create_server_app
    from headwater.services.tracing import configure_tracing
    from headwater.store.base import utcnow
    from headwater.store.engine import make_engine, make_session_factory

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings)
    engine = make_engine(settings.resolved_database_url())
    runtime = build_runtime(settings, make_session_factory(engine), utcnow, with_scheduler=False)
    app = create_server_app(
        settings, engine=engine, background=runtime.services, executor=runtime.executor
    )
    tune_gc(settings)
    return app


WORKERS_HELP = (
    "API processes serving requests on the one port (each runs its own local executor, "
    "HEADWATER_LOCAL_WORKERS run processes)."
)


def up(
    host: str | None = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port to listen on (default 8000)."),
    workers: int = typer.Option(1, min=1, help=WORKERS_HELP),
) -> None:
    """Run everything: API, console, scheduler and local executor (runs in worker processes)."""
    _start(host, port, workers, all_in_one=True)


def server(
    host: str | None = typer.Option(None, help="Address to listen on (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port to listen on (default 8000)."),
    workers: int = typer.Option(1, min=1, help=WORKERS_HELP),
) -> None:
    """Run the API and console only (scheduler and workers run as their own processes)."""
    _start(host, port, workers, all_in_one=False)


def share_request_metrics(settings: Settings) -> None:
    """Let this host's API processes add up their request metrics (``GET /metrics``).

    prometheus_client's multiprocess mode keeps each process's samples in files of one folder;
    it must be chosen before the first metric exists, so this runs before the app is built and
    before any worker process starts. ``PROMETHEUS_MULTIPROC_DIR`` set by the operator wins;
    otherwise ``<data dir>/metrics``, emptied at start (the files of stopped processes would
    count forever).
    """
    if os.environ.get(MULTIPROC_ENV):
        return
    folder = settings.resolved_data_dir() / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    os.environ[MULTIPROC_ENV] = str(folder)


def _start(host: str | None, port: int | None, workers: int, *, all_in_one: bool) -> None:
    """Migrate, bootstrap and greet, then serve on the given or configured address."""
    settings = Settings()
    share_request_metrics(settings)
    metadata = open_metadata(settings, upgrade=True)
    host = host or settings.host
    port = port or settings.port
    _bootstrap_and_greet(metadata, host, port)
    if workers > 1:
        _serve_workers(metadata, host, port, workers, all_in_one=all_in_one)
    else:
        _serve(metadata, host, port, all_in_one=all_in_one)
