"""``headwater apply`` disabling a change capture river: its replication slot at a real
logical-replication PostgreSQL goes as the document's ``source.cdc.on_disable`` says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from headwater.cli.main import app
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import River
from tests.cdc_servers import PgCluster, has_slot, logical_pg, river_slot

pytestmark = pytest.mark.postgres

DOCUMENT = """
connections:
  - name: logical
    type: postgres
    properties:
      host: 127.0.0.1
      port: {port}
      database: postgres
      username: postgres
      password: ${{PG_PASSWORD}}
rivers:
{rivers}
"""
RIVER = """
  - name: {name}
    type: source_to_target
    status: {status}
    properties:
      source: {{connection: logical, cdc: {{on_disable: {choice}}}}}
      target: {{connection: logical, schema_name: public, loading_method: merge}}
      schemas:
        - name: public
          tables:
            - name: apply_items
              details: {{extract_method: cdc, target_table: apply_items_copy}}
"""


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with logical_pg() as running:
        yield running


def _document(cluster: PgCluster, status: str) -> str:
    rivers = "".join(
        RIVER.format(name=f"{choice} slot", status=status, choice=choice)
        for choice in ("drop", "keep")
    )
    return DOCUMENT.format(port=cluster.port, rivers=rivers)


def test_apply_disabling_a_river_drops_or_keeps_its_slot(
    db_url: str,
    tmp_path: Path,
    bootstrap: BootstrapResult,
    sessions: sessionmaker[Session],
    cluster: PgCluster,
) -> None:
    env = {
        "HEADWATER_DATA_DIR": str(tmp_path / "data"),
        "HEADWATER_DATABASE_URL": db_url,
        "HEADWATER_SECRET_KEY": "cli-test-secret-key",
        "PG_PASSWORD": "trust-needs-none",
    }
    document = tmp_path / "flows.yaml"
    document.write_text(_document(cluster, "active"))
    result = CliRunner().invoke(app, ["apply", "-f", str(document)], env=env)
    assert result.exit_code == 0, result.output
    with sessions() as session:
        ids = {r.name: r.id for r in session.scalars(select(River))}
    for river_id in ids.values():
        river_slot(cluster, river_id, "apply_items")

    document.write_text(_document(cluster, "disabled"))
    result = CliRunner().invoke(app, ["apply", "-f", str(document)], env=env)
    assert result.exit_code == 0, result.output
    with sessions() as session:
        assert {r.status for r in session.scalars(select(River))} == {"disabled"}
    assert not has_slot(cluster, ids["drop slot"])
    assert has_slot(cluster, ids["keep slot"])
