"""Shared fixtures: a clean metadata DB per test on SQLite and on the real PostgreSQL.

Tests that take ``db_url`` (directly or through ``app``/``client``/``sessions``) run twice,
once per backend. PostgreSQL gets one throwaway database per test run, migrated once, and is
truncated before each test; SQLite copies a migrated template file per test.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from headwater.server import create_server_app
from headwater.services.bootstrap import BootstrapResult, ensure_default_account
from headwater.settings import Settings
from headwater.store import migrate
from headwater.store.base import Base
from headwater.store.engine import make_engine, make_session_factory
from tests._services import PG_ADMIN_URL, require_service

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple"

BACKENDS = ["sqlite", "postgres"]


#: Test files that take minutes (processes killed and restarted, browsers, private database
#: clusters, cached third-party venvs), longest first. ``pytest -n 2 --dist loadfile
#: --no-loadscope-reorder`` (scripts/test.sh) hands files to its workers in collection order;
#: xdist's default order (most tests first) ran these few-test, long files last, leaving one
#: worker busy for minutes while the other idled, so they come first and short files fill in.
LONG_FILES_FIRST = (
    "tests/faults/",
    "tests/executors/test_recovery.py",
    "tests/web/test_browser_",
    "tests/security/test_secrets_scenario.py",
    "tests/security/test_api_fuzz.py",
    "tests/deploy/test_cluster_scenario.py",
    "tests/connectors/bridges/",
    "tests/executors/",
    "tests/cli/test_run_cli.py",
    "tests/engine/test_cdc_",
    "tests/runner/test_dbt_step.py",
    "tests/clients/test_airflow_provider.py",
    "tests/clients/test_dagster_integration.py",
    "tests/clients/test_prefect_integration.py",
    "tests/clients/test_newman.py",
    "tests/scheduler/test_failover.py",
    "tests/api/test_runs_cdc.py",
    "tests/connectors/test_snowflake",
    "tests/connectors/test_lakehouse",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long files first (stable: each file keeps its own order, the rest keeps theirs)."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return next(
            (i for i, prefix in enumerate(LONG_FILES_FIRST) if path.startswith(prefix)),
            len(LONG_FILES_FIRST),
        )

    items.sort(key=rank)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 at minimal cost inside the test process (hashes still verify: each hash carries
    its parameters). Live-server tests run real processes with the production cost."""
    from argon2 import PasswordHasher

    from headwater.security import passwords

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            passwords,
            "_hasher",
            lambda: PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
        )
        yield


def _pg_url(database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}".replace("postgresql://", "postgresql+psycopg://", 1)


def create_pg_database(prefix: str = "hw_test") -> str:
    """Create a throwaway PostgreSQL database; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_pg_url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return _pg_url(name)


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(_pg_url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    require_service("postgres")
    url = create_pg_database()
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    drop_pg_database(url)


@contextlib.contextmanager
def statements_sent(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the engine sends while the block runs, in order (BEGIN, COMMIT and
    ROLLBACK are not statements here: the driver sends them)."""
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def truncate_all(engine: Engine) -> None:
    """Empty every table; DELETE beats TRUNCATE by far on the tiny tables tests leave behind.

    The run metric tables go last: deleting runs appends their negative deltas there.
    """
    metric_tables = {"run_metric_deltas", "run_metric_totals"}
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in metric_tables]
    tables += [t for t in Base.metadata.sorted_tables if t.name in metric_tables]
    with engine.begin() as connection:
        for table in tables:
            connection.execute(table.delete())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "headwater.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")
    engine = make_engine(url)
    truncate_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@dataclass
class FakeClock:
    """An injectable clock: tests move time instead of sleeping."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now = self.now + timedelta(**kwargs)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
        public_url=None,
    )


@pytest.fixture
def bootstrap(sessions: sessionmaker[Session]) -> BootstrapResult:
    with sessions() as session:
        return ensure_default_account(
            session, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD
        )


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FakeClock) -> Iterator[FastAPI]:
    application = create_server_app(settings, engine=engine, clock=clock)
    yield application
    application.state.executor.stop()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def make_token(
    sessions: sessionmaker[Session], bootstrap: BootstrapResult
) -> Callable[..., dict[str, str]]:
    """``make_token(scopes=[...], environment_ids=None)`` → bearer headers of a new token of the
    bootstrap account, created by its admin (all scopes unless given)."""
    from tests.api.tokenhelp import mint

    def make(
        scopes: list[str] | None = None, environment_ids: list[str] | None = None
    ) -> dict[str, str]:
        kwargs = {"scopes": scopes} if scopes is not None else {}
        return mint(
            sessions,
            bootstrap.account_id,
            created_by=bootstrap.admin_id,
            environment_ids=environment_ids,
            **kwargs,
        ).headers

    return make


@pytest.fixture
def pg_databases() -> Iterator[dict[str, str]]:
    """Throwaway metadata, source and target databases on the real PostgreSQL."""
    require_service("postgres")
    urls = {name: create_pg_database(f"hw_{name}") for name in ("meta", "src", "dst")}
    yield urls
    for url in urls.values():
        drop_pg_database(url)
