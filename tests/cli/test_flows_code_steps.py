"""``headwater apply`` / ``export`` with ``dbt`` and ``python`` steps: connections by name,
a stable round trip, and the definitions the runner reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from headwater.cli.main import app
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import Connection, River

DOCUMENT = """
connections:
  - name: warehouse
    type: duckdb
    properties: {path: /tmp/never-opened.duckdb}
rivers:
  - name: transform
    type: logic
    properties:
      steps:
        - type: dbt
          connection: warehouse
          project_dir: /srv/dbt/analytics
          select: "+daily"
          vars: {day: "{run_date}"}
        - type: python
          connections: [warehouse]
          output_variables: [late]
          script: |
            def main(variables):
                return {"late": 0}
"""


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, bootstrap: BootstrapResult) -> dict[str, str]:
    return {
        "HEADWATER_DATA_DIR": str(tmp_path / "data"),
        "HEADWATER_DATABASE_URL": db_url,
        "HEADWATER_SECRET_KEY": "cli-test-secret-key",
    }


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_code_steps_apply_export_and_reapply(
    cli_env: dict[str, str], tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    source = tmp_path / "flows.yaml"
    source.write_text(DOCUMENT)
    code, output = _run(cli_env, "apply", "-f", str(source))
    assert code == 0, output
    with sessions() as session:
        connection = session.scalars(select(Connection)).one()
        river = session.scalars(select(River)).one()
        dbt, python = river.definition["properties"]["steps"]
    assert dbt["connection_id"] == connection.id and dbt["command"] == "build"
    assert python["connection_ids"] == [connection.id]
    assert python["function"] == "main" and python["memory_mb"] == 512

    code, exported = _run(cli_env, "export")
    assert code == 0, exported
    document = yaml.safe_load(exported)
    steps = document["rivers"][0]["properties"]["steps"]
    assert steps[0]["connection"] == "warehouse" and steps[1]["connections"] == ["warehouse"]

    again = tmp_path / "exported.yaml"
    again.write_text(exported)
    code, output = _run(cli_env, "apply", "-f", str(again))
    assert code == 0, output
    assert "0 to create, 0 to update" in output
