"""``Load the sample data`` over HTTP: the deterministic files, the connection and river made
through the services, reuse on a second press, and a clear refusal without a warehouse."""

from __future__ import annotations

import hashlib

import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from headwater.services.bootstrap import BootstrapResult
from headwater.services.sample_data import SIZES, ensure_files
from headwater.settings import Settings
from headwater.store.models import Connection, River
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.security.hardening_help import RecordingExecutor
from tests.web.forms import page_csrf, sign_in

pytestmark = pytest.mark.anyio


def test_the_sample_files_are_the_same_on_every_install(tmp_path: pytest.TempPathFactory) -> None:
    first = ensure_files(tmp_path / "a")  # type: ignore[operator]
    second = ensure_files(tmp_path / "b")  # type: ignore[operator]
    for name, rows in SIZES.items():
        assert pq.read_metadata(first[name]).num_rows == rows
        digest = [hashlib.sha256(p[name].read_bytes()).hexdigest() for p in (first, second)]
        assert digest[0] == digest[1]
    assert sum(p.stat().st_size for p in first.values()) < 8_000_000


@pytest.fixture
def app(settings: Settings, engine: object, clock: object) -> FastAPI:
    from headwater.server import create_server_app

    return create_server_app(settings, engine=engine, clock=clock, executor=RecordingExecutor())  # type: ignore[arg-type]


async def test_load_the_sample_data(
    app: FastAPI,
    client: httpx.AsyncClient,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
    settings: Settings,
) -> None:
    assert (await sign_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 303
    base = f"/console/accounts/{bootstrap.account_id}/environments/{bootstrap.environment_id}"
    empty = await client.get(f"{base}/rivers")
    assert "Load the sample data" in empty.text
    csrf = await page_csrf(client, f"{base}/rivers")
    refused = await client.post(f"{base}/sample", data={"csrf_token": csrf})
    assert refused.status_code in (400, 422)
    assert "no DuckDB connection named &#39;warehouse&#39;" in refused.text

    warehouse = settings.data_dir.resolve() / "warehouse" / "warehouse.duckdb"
    with sessions() as session:
        session.add(
            Connection(
                account_id=bootstrap.account_id,
                environment_id=bootstrap.environment_id,
                name="warehouse",
                connection_type="duckdb",
                properties={"path": str(warehouse)},
            )
        )
        session.commit()
    started = await client.post(f"{base}/sample", data={"csrf_token": csrf})
    assert started.status_code == 303 and "/runs/" in started.headers["location"]
    again = await client.post(f"{base}/sample", data={"csrf_token": csrf})
    assert again.status_code == 303
    with sessions() as session:
        found = session.scalars(select(River).where(River.name == "Sample data to warehouse"))
        assert len(list(found)) == 1  # the second press reuses the river
        source = session.scalars(select(Connection).where(Connection.name == "sample data")).one()
        assert source.connection_type == "local_files"
    # The second press, while the first run is still pending, is skipped rather than run twice.
    assert len(app.state.executor.submitted) == 1
    assert (settings.data_dir.resolve() / "files" / "sample" / "orders.parquet").exists()
