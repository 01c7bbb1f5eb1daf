"""Process settings, read from ``HEADWATER_*`` environment variables.

Every field carries a description: the settings reference in the docs and the README table are
generated from this model (``headwater config --markdown``), so they cannot drift from the code.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

SECRET_KEY_FILE = "secret.key"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"127.0.0.1, 10.0.0.0/8"`` → networks; ``ValueError`` naming a bad entry.

    Lives with the settings so that ``HEADWATER_TRUSTED_PROXIES`` is checked at start (a typo
    fails then, not silently at the first request); ``security.proxies`` uses it too."""
    networks: list[Network] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR range: {entry!r}") from None
    return tuple(networks)


SQLITE_FILE = "headwater.db"
_WARNED_DIRS: set[str] = set()


class Settings(BaseSettings):
    """Everything a Headwater process can be told from its environment."""

    model_config = SettingsConfigDict(env_prefix="HEADWATER_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".headwater"),
        description="Directory for the SQLite metadata DB, the secret key and the default DuckDB "
        "target (`warehouse/warehouse.duckdb`); created on first use with mode 0700.",
    )
    local_roots: str | None = Field(
        default=None,
        description="Comma-separated folders that local-path connections (`sqlite`, `duckdb`, "
        "`local_files`) may use; a path elsewhere can be saved only by an account admin. Default: "
        "the data dir's `files/` and `warehouse/` folders. The data dir's own files are never "
        "usable, whatever this says.",
    )
    database_url: str | None = Field(
        default=None,
        description="Metadata database URL. Default: SQLite file `headwater.db` in the data dir. "
        "PostgreSQL: `postgresql://user:pass@host:5432/db`.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that encrypts connection secrets at rest. Generated into "
        "`<data dir>/secret.key` (mode 0600) on first start when unset.",
    )
    executor: Literal["local", "celery"] = Field(
        default="local",
        description="Where runs execute: `local` (worker processes started by the server) or "
        "`celery` (`headwater worker` processes).",
    )
    celery_broker_url: str | None = Field(
        default=None,
        description="Celery broker for the `celery` executor, e.g. `redis://127.0.0.1:6379/0` or "
        "`amqp://guest:guest@127.0.0.1:5672//`.",
    )
    celery_queue: str = Field(
        default="headwater",
        description="Celery queue the server and scheduler send runs to and workers consume.",
    )
    admin_email: str = Field(
        default="admin@example.com",
        description="E-mail of the admin user created on first start.",
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password of the admin user created on first start; when unset a random "
        "one is generated and printed once.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL clients use to reach this deployment (used in `next_page` links, "
        "the generated Postman collection and the console). Default: the request's own URL.",
    )
    host: str = Field(default="127.0.0.1", description="Address `headwater up` listens on.")
    port: int = Field(default=8000, description="Port `headwater up` listens on.")
    local_workers: int = Field(
        default=4,
        ge=1,
        description="Run groups the local executor runs at once (per API process), each in a "
        "worker process of its own.",
    )
    run_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How much lower the CPU priority (`nice`) of the local executor's worker "
        "processes is than the API's: on busy cores requests go before runs; 0 shares equally.",
    )
    api_gc_threshold: int = Field(
        default=20_000,
        ge=0,
        description="Allocations between young-generation garbage collections in each API "
        "process (Python's default is 700; 0 keeps it). Objects that exist when the server "
        "starts are frozen out of collections either way: under load, full collections of the "
        "app's own objects stalled every request for tens of milliseconds.",
    )
    table_concurrency: int = Field(
        default=4,
        ge=1,
        description="Tables of one source-to-target run group a worker copies at once, "
        "sharing the group's source and target connections; 1 copies them one after the other. "
        "Embedded targets (DuckDB, SQLite, Iceberg) always take one table at a time.",
    )
    worker_lost_after_seconds: int = Field(
        default=30,
        ge=3,
        description="A running run whose heartbeat is older than this is failed as 'worker lost' "
        "(heartbeats come every few seconds).",
    )
    requeue_after_seconds: int = Field(
        default=120,
        ge=1,
        description="A run group still `pending` this long after its trigger is handed to the "
        "executor again (its broker message may have been lost, e.g. in a Redis restart).",
    )
    scheduler_tick_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often each `headwater scheduler` (or `headwater up`) checks for due "
        "rivers and renews or tries to take the scheduler lease.",
    )
    scheduler_lease_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How long the leading scheduler's lease lasts without renewal; another "
        "scheduler takes over at most this plus one tick after the leader dies. Must exceed "
        "the tick (keep hosts' clocks within a few seconds of each other, e.g. NTP).",
    )
    rate_limit_per_minute: int = Field(
        default=6000, ge=1, description="Requests one API token may make per minute before 429."
    )
    units_bytes_per_unit: int = Field(
        default=100_000_000,
        ge=1,
        description="Usage metering: bytes a database or file source must move for one unit.",
    )
    units_minimum: float = Field(
        default=0.001,
        ge=0,
        description="Usage metering: the least a succeeded table run costs (failed runs cost 0).",
    )
    units_per_api_table: float = Field(
        default=0.01,
        ge=0,
        description="Usage metering: units per execution and target table of an API source or "
        "action river (charged per call, not per byte).",
    )
    plan_downgrade_notice_days: int = Field(
        default=14,
        ge=0,
        description="Days tokens keep working after an account moves to the `starter` plan.",
    )
    mode: Literal["development", "production"] = Field(
        default="development",
        description="`production` blocks every outbound connection (actions, REST sources, "
        "webhooks, OAuth token URLs, S3 endpoints, database hosts) to the special-purpose "
        "address ranges of the IANA registries (loopback, private, carrier-grade NAT, "
        "link-local/cloud metadata...) unless allow-listed; see docs/security.md.",
    )
    outbound_allowlist: str = Field(
        default="",
        description="Comma-separated host names or CIDR ranges outbound connections may reach "
        "even when `production` mode blocks their address range, e.g. "
        "`10.0.0.0/8,db.internal`.",
    )
    max_request_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest request body the API accepts; bigger requests get 413.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated IPs or CIDR ranges of reverse proxies whose "
        "`X-Forwarded-For`/`X-Forwarded-Proto` are believed (client address of the login "
        "throttle, rate limits and audit; https cookies). Empty: the headers are ignored, "
        "e.g. `127.0.0.1,10.0.0.0/8`.",
    )
    log_level: str = Field(default="INFO", description="Log level of the process.")
    log_format: Literal["plain", "json"] = Field(
        default="plain",
        description="Log line format: `plain` text or `json` (one object per line: time, level, "
        "logger, message, exception; secrets redacted as in plain logs).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a Prometheus scraper presents to `GET /metrics`; unset: the "
        "endpoint answers 404 (metrics are off). See docs/observability.md.",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OpenTelemetry OTLP/HTTP endpoint for run traces, e.g. "
        "`http://otel-collector:4318` (`/v1/traces` is appended); unset: no traces.",
    )
    otlp_headers: SecretStr | None = Field(
        default=None,
        description="Headers sent with every OTLP export, `key=value` pairs separated by commas "
        "(e.g. an API key of a hosted tracing service); never logged.",
    )
    service_name: str = Field(
        default="headwater",
        description="`service.name` of this process's traces (e.g. `headwater-worker`).",
    )
    code_step_user: str | None = Field(
        default=None,
        description="OS user that logic rivers' `python` steps run as (the worker must run as "
        "root to switch); unset: the worker's own user.",
    )
    dbt_venv: Path | None = Field(
        default=None,
        description="Virtualenv with dbt for `dbt` steps; unset: created on first use under "
        "`<data dir>/tools/dbt-<hash>` from Headwater's pinned dbt requirements.",
    )
    connectors_dir: Path | None = Field(
        default=None,
        description="Where `headwater connectors install` puts Airbyte sources and Singer taps, "
        "one virtualenv each; unset: `<data dir>/connectors`.",
    )
    connectors_index_url: str | None = Field(
        default=None,
        description="Package index (or wheelhouse directory, used as `--find-links`) that "
        "connector packages install from; unset: pip's own configuration (PyPI).",
    )
    connectors_api_install: bool = Field(
        default=False,
        description="Let instance admins install connector packages through the API and "
        "console (`POST /v1/instance/connectors`): that runs code from PyPI on the server. "
        "Off: only `headwater connectors install` on the server installs.",
    )
    dbt_projects_dir: Path | None = Field(
        default=None,
        description="When set, `dbt` steps' `project_dir` must lie inside this directory.",
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server that sends river notification e-mails. Unset: e-mail is "
        "disabled and notifications are only logged as skipped.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_username: str | None = Field(
        default=None, description="SMTP login name; when unset Headwater sends without AUTH."
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="SMTP password (never logged or shown)."
    )
    smtp_from: str = Field(
        default="headwater@localhost",
        description="Sender address (`From:`) of notification e-mails.",
    )
    smtp_ssl: bool | None = Field(
        default=None,
        description="Implicit TLS from the first byte (SMTPS). Unset: on when the port is 465.",
    )
    smtp_starttls: bool | None = Field(
        default=None,
        description="Upgrade the connection with STARTTLS and refuse servers that do not offer "
        "it. Unset: on unless implicit TLS is used.",
    )
    smtp_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Timeout of each SMTP connection and command; a timeout is retried later.",
    )

    @model_validator(mode="after")
    def _lease_outlives_tick(self) -> Settings:
        if self.scheduler_lease_seconds <= self.scheduler_tick_seconds:
            raise ValueError(
                "HEADWATER_SCHEDULER_LEASE_SECONDS must exceed HEADWATER_SCHEDULER_TICK_SECONDS "
                "(the leader renews its lease once per tick)"
            )
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        parse_networks(value)  # a typo fails at start, not silently at the first request
        return value

    def resolved_data_dir(self) -> Path:
        """The data dir as an absolute path, created on first use (mode 0700: it holds the
        metadata DB and the secret key). An existing folder readable by others is left as it is
        (it may be a folder the operator chose and shares) with a warning."""
        path = self.data_dir.expanduser().resolve()
        if not path.exists():
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(path, 0o700)  # mkdir's mode is cut by the umask; be exact
        elif path.stat().st_mode & 0o077 and str(path) not in _WARNED_DIRS:
            _WARNED_DIRS.add(str(path))
            logging.getLogger(__name__).warning(
                "The data dir %s is accessible to other users (mode %o); it holds the metadata "
                "DB and the secret key: chmod 700 it",
                path,
                path.stat().st_mode & 0o777,
            )
        return path

    def resolved_connectors_dir(self) -> Path:
        """Where connector packages live (``HEADWATER_CONNECTORS_DIR``)."""
        if self.connectors_dir is not None:
            return self.connectors_dir.expanduser().resolve()
        return self.resolved_data_dir() / "connectors"

    def local_root_paths(self) -> list[Path]:
        """The folders local-path connections may use (``HEADWATER_LOCAL_ROOTS``)."""
        listed = [part.strip() for part in (self.local_roots or "").split(",") if part.strip()]
        if listed:
            return [Path(part).expanduser().resolve() for part in listed]
        data_dir = self.data_dir.expanduser().resolve()
        return [data_dir / "files", data_dir / "warehouse"]

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL of the metadata DB, with the psycopg 3 driver for PostgreSQL."""
        if not self.database_url:
            return f"sqlite:///{self.resolved_data_dir() / SQLITE_FILE}"
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    def masked_database_url(self) -> str:
        """The database URL safe to print: the password replaced by ``***``."""
        try:
            return make_url(self.resolved_database_url()).render_as_string(hide_password=True)
        except Exception:
            return "<unparseable database URL>"

    def resolved_secret_key(self) -> str:
        """The encryption key: the setting, or the key file in the data dir (made if missing)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        key_path = self.resolved_data_dir() / SECRET_KEY_FILE
        if not key_path.exists():
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        elif key_path.stat().st_mode & 0o077:
            tighten(key_path)  # Headwater's own file: tighten a copy restored loosely
        return key_path.read_text().strip()


def tighten(path: Path | str) -> None:
    """Make one of Headwater's own files mode 0600; warn when it cannot be (a read-only mount,
    another owner) instead of refusing to start."""
    try:
        os.chmod(path, 0o600)
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "%s is readable by other users and could not be made private (%s): chmod 600 it",
            path,
            exc.strerror,
        )


SECRET_FIELDS = frozenset(
    {"secret_key", "admin_password", "smtp_password", "metrics_token", "otlp_headers"}
)


def effective_settings(settings: Settings) -> dict[str, str]:
    """The settings as printable strings, secrets masked, database password hidden."""
    shown: dict[str, str] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name in SECRET_FIELDS:
            shown[name] = "(unset)" if value is None else "***"
        elif name == "database_url":
            shown[name] = settings.masked_database_url()
        else:
            shown[name] = "(unset)" if value is None else str(value)
    return shown


def settings_markdown() -> str:
    """The settings reference table, generated from the model."""
    lines = ["| variable | default | description |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = "(unset)" if default is None else f"`{default}`"
        description = (field.description or "").replace("|", "\\|")
        lines.append(f"| `HEADWATER_{name.upper()}` | {shown} | {description} |")
    return "\n".join(lines) + "\n"
