"""``headwater worker`` and ``headwater scheduler``: the distributed deployment's processes."""

from __future__ import annotations

import signal
import threading

import typer

from headwater.cli.common import fail, open_metadata
from headwater.settings import Settings


def worker(
    concurrency: int = typer.Option(2, min=1, help="Run groups this worker executes at once."),
    name: str | None = typer.Option(None, help="Worker name (default: host and pid)."),
) -> None:
    """Execute runs from the Celery broker (HEADWATER_EXECUTOR=celery)."""
    from headwater.executors.celery import create_celery_app, register_worker_task
    from headwater.logconfig import configure_logging
    from headwater.services.tracing import configure_tracing

    settings = Settings()
    if not settings.celery_broker_url:
        raise fail("`headwater worker` needs HEADWATER_CELERY_BROKER_URL (Redis or RabbitMQ)")
    metadata = open_metadata(settings, upgrade=False)
    metadata.engine.dispose()
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings)
    app = create_celery_app(settings)
    register_worker_task(app, settings)
    argv = [
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "--pool=threads",
        f"--queues={settings.celery_queue}",
    ]
    if name:
        argv.append(f"--hostname={name}")
    app.worker_main(argv=argv)


def scheduler() -> None:
    """Fire scheduled rivers, reap lost runs and expire tokens (no API)."""
    from headwater.logconfig import configure_logging
    from headwater.runtime import build_runtime
    from headwater.services.tracing import configure_tracing
    from headwater.store.base import utcnow

    settings = Settings()
    metadata = open_metadata(settings, upgrade=True)
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings)
    runtime = build_runtime(settings, metadata.sessions, utcnow, with_scheduler=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    for service in runtime.services:
        service.start()
    typer.echo(f"scheduler running on {settings.masked_database_url()}; Ctrl-C stops it")
    stop.wait()
    for service in reversed(runtime.services):
        service.stop()
    metadata.engine.dispose()
    typer.echo("scheduler stopped")
