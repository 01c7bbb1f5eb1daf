"""``headwater apply`` / ``headwater export``: plan and diff, dry run, the YAML round trip, and
secrets that never leave the metadata DB in clear."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from headwater.cli.main import app
from headwater.security.crypto import SecretBox
from headwater.services import connections
from headwater.services.bootstrap import BootstrapResult
from headwater.store.models import AuditEvent, Connection, River

PG_SECRET = "pg-Secret-in-env-only"
TOKEN_SECRET = "bearer-Secret-in-env-only"

DOCUMENT = """
groups:
  - name: core
variables:
  - name: region
    value: eu
  - name: api_key
    is_private: true
    value: ${API_KEY}
connections:
  - name: warehouse
    type: postgres
    properties:
      host: 127.0.0.1
      port: 5432
      database: dst
      username: postgres
      password: ${PG_PASSWORD}
rivers:
  - name: copy events
    type: source_to_target
    group: core
    properties:
      source: {connection: warehouse}
      target: {connection: warehouse, schema_name: public, loading_method: merge}
      schemas:
        - name: public
          tables:
            - name: events
              details:
                modified_columns: [{name: id, is_key: true}]
  - name: nightly
    type: logic
    status: disabled
    properties:
      steps:
        - type: sql
          connection: warehouse
          sql: "SELECT 1 WHERE '{region}' = 'eu'"
        - type: river
          river: copy events
  - name: ping
    type: action
    properties:
      request: {url: "https://example.com/{region}"}
      auth: {type: bearer, token: "${PING_TOKEN}"}
"""


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, bootstrap: BootstrapResult) -> dict[str, str]:
    return {
        "HEADWATER_DATA_DIR": str(tmp_path / "data"),
        "HEADWATER_DATABASE_URL": db_url,
        "HEADWATER_SECRET_KEY": "cli-test-secret-key",
        "PG_PASSWORD": PG_SECRET,
        "API_KEY": "api-key-value",
        "PING_TOKEN": TOKEN_SECRET,
    }


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_apply_dry_run_apply_and_round_trip(
    cli_env: dict[str, str],
    tmp_path: Path,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    source = tmp_path / "flows.yaml"
    source.write_text(DOCUMENT)

    code, output = _run(cli_env, "apply", "-f", str(source), "--dry-run")
    assert code == 0, output
    assert "+ connection warehouse" in output and "+ river nightly" in output
    assert "password: ${PG_PASSWORD}" in output
    assert "Plan: 7 to create, 0 to update, 0 unchanged." in output
    assert "Dry run: nothing was changed." in output
    with sessions() as session:
        assert session.scalars(select(River)).all() == []

    code, output = _run(cli_env, "apply", "-f", str(source))
    assert code == 0, output
    assert "Applied 7 change(s)." in output
    with sessions() as session:
        stored = {r.name: r for r in session.scalars(select(River))}
        assert stored["nightly"].status == "disabled"
        assert stored["copy events"].river_type == "src_to_trgt"
        connection = session.scalars(select(Connection)).one()
        box = SecretBox("cli-test-secret-key")
        assert connections.decrypted_properties(box, connection)["password"] == PG_SECRET
        actors = {e.actor_type for e in session.scalars(select(AuditEvent))}
        assert "user" in actors

    code, output = _run(cli_env, "apply", "-f", str(source))
    assert "Plan: 0 to create, 0 to update, 7 unchanged." in output and "No changes." in output

    code, exported = _run(cli_env, "export")
    assert code == 0
    assert "${HW_WAREHOUSE_PASSWORD}" in exported and "${HW_RIVER_PING_TOKEN}" in exported
    document = yaml.safe_load(exported)
    nightly = next(r for r in document["rivers"] if r["name"] == "nightly")
    assert nightly["properties"]["steps"][1]["river"] == "copy events"

    no_secrets = {
        k: v for k, v in cli_env.items() if k not in {"PG_PASSWORD", "PING_TOKEN", "API_KEY"}
    }
    exported_file = tmp_path / "exported.yaml"
    code, _ = _run(no_secrets, "export", "-o", str(exported_file))
    code, output = _run(no_secrets, "apply", "-f", str(exported_file))
    assert code == 0, output
    assert "Plan: 0 to create, 0 to update, 7 unchanged." in output

    exported_dir = tmp_path / "exported"
    code, _ = _run(no_secrets, "export", "-o", str(exported_dir))
    assert (exported_dir / "rivers" / "copy_events.yaml").exists()
    code, output = _run(no_secrets, "apply", "-f", str(exported_dir))
    assert "No changes." in output, output

    for text in (exported, output, exported_file.read_text(), caplog.text):
        assert PG_SECRET not in text and TOKEN_SECRET not in text
    for path in exported_dir.rglob("*.yaml"):
        assert PG_SECRET not in path.read_text()


def test_changes_show_a_diff_and_update(cli_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "flows.yaml"
    source.write_text(DOCUMENT)
    assert _run(cli_env, "apply", "-f", str(source))[0] == 0
    source.write_text(DOCUMENT.replace("host: 127.0.0.1", "host: db.internal"))
    code, output = _run(cli_env, "apply", "-f", str(source))
    assert code == 0, output
    assert "~ connection warehouse" in output
    assert "-  host: 127.0.0.1" in output and "+  host: db.internal" in output
    assert "Plan: 0 to create, 1 to update, 6 unchanged." in output
    rotated = {**cli_env, "PG_PASSWORD": "rotated"}
    code, output = _run(rotated, "apply", "-f", str(source))
    assert "(secret value(s) changed)" in output and "rotated" not in output


def test_errors_are_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "flows.yaml"
    missing_env = {k: v for k, v in cli_env.items() if k != "PG_PASSWORD"}
    source.write_text(DOCUMENT)
    code, output = _run(missing_env, "apply", "-f", str(source))
    assert code == 1 and "PG_PASSWORD" in output

    source.write_text(DOCUMENT.replace("river: copy events", "river: nowhere"))
    code, output = _run(cli_env, "apply", "-f", str(source))
    assert code == 1 and "no river named 'nowhere'" in output

    source.write_text(DOCUMENT.replace("loading_method: merge", "loading_method: merge, x: 1"))
    code, output = _run(cli_env, "apply", "-f", str(source))
    assert code == 1 and "copy events" in output

    source.write_text("pipelines: []")
    code, output = _run(cli_env, "apply", "-f", str(source))
    assert code == 1 and "unknown section" in output

    code, output = _run(cli_env, "apply", "-f", str(source), "--environment", "f" * 24)
    assert code == 1


def test_export_of_another_environment(
    cli_env: dict[str, str],
    tmp_path: Path,
    sessions: sessionmaker[Session],
    bootstrap: BootstrapResult,
) -> None:
    from tests.api.tokenhelp import add_environment

    staging = add_environment(sessions, bootstrap.account_id, "staging")
    source = tmp_path / "flows.yaml"
    source.write_text(DOCUMENT)
    code, output = _run(cli_env, "apply", "-f", str(source), "--environment", staging)
    assert code == 0, output
    default_export = yaml.safe_load(_run(cli_env, "export")[1])
    staging_export = yaml.safe_load(_run(cli_env, "export", "--environment", staging)[1])
    assert default_export["rivers"] == []
    assert len(staging_export["rivers"]) == 3


def test_raw_variables_round_trip_and_impossible_crons_are_refused(
    cli_env: dict[str, str], tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    from headwater.store.models import EnvironmentVariable

    source = tmp_path / "raw.yaml"
    source.write_text("variables:\n  - name: schema\n    raw: true\n    value: analytics\n")
    code, output = _run(cli_env, "apply", "-f", str(source))
    assert code == 0, output
    with sessions() as session:
        assert session.scalars(select(EnvironmentVariable)).one().is_raw is True
    code, exported = _run(cli_env, "export")
    assert yaml.safe_load(exported)["variables"] == [
        {"name": "schema", "raw": True, "value": "analytics"}
    ]
    assert "No changes." in _run(cli_env, "apply", "-f", str(source))[1]
    source.write_text("variables:\n  - name: schema\n    value: analytics\n")
    code, output = _run(cli_env, "apply", "-f", str(source))
    assert "Plan: 0 to create, 1 to update" in output, output
    with sessions() as session:
        assert session.scalars(select(EnvironmentVariable)).one().is_raw is False

    feb = tmp_path / "feb.yaml"
    feb.write_text(
        "rivers:\n  - name: never\n    type: action\n"
        "    schedulers: [{cron_expression: '0 0 31 2 *'}]\n"
        "    properties: {request: {url: 'https://example.com/x'}}\n"
    )
    code, output = _run(cli_env, "apply", "-f", str(feb))
    assert code != 0 and "never fires" in output, output
