"""A fresh install, no token: ``apply`` a file flow, ``rivers list`` it, ``run NAME --wait``.

Also the file-table naming rule end to end: ``orders.csv.gz`` lands as the table ``orders``
in the embedded DuckDB target.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.slow

FLOW = """
connections:
  - name: drop folder
    type: local_files
    properties:
      root: {root}
rivers:
  - name: orders
    type: source_to_target
    properties:
      source: {{connection: drop folder}}
      target: {{connection: warehouse, loading_method: overwrite}}
      schemas:
        - name: files
          tables:
            - name: orders.csv.gz
              details: {{file_format: csv}}
            - name: "customers_*.csv"
              details: {{file_format: csv}}
"""


def _headwater(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fresh_install_runs_a_flow_by_name_without_a_token(tmp_path: Path) -> None:
    data_dir = tmp_path / ".headwater"
    files = data_dir / "files" / "drop"
    files.mkdir(parents=True)
    with gzip.open(files / "orders.csv.gz", "wt") as handle:
        handle.write("id,amount\n" + "".join(f"{i},{i * 3}\n" for i in range(250)))
    (files / "customers_eu.csv").write_text("id,name\n1,Ana\n2,Bo\n")
    (files / "customers_us.csv").write_text("id,name\n3,Cy\n")
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.format(root=json.dumps(str(files))))
    env = {"HEADWATER_DATA_DIR": str(data_dir), "HEADWATER_SECRET_KEY": "rivers-cli-test-key"}

    applied = _headwater(env, tmp_path, "apply", "-f", str(flow))
    assert applied.returncode == 0, applied.stdout + applied.stderr

    listed = _headwater(env, tmp_path, "rivers", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rivers = json.loads(listed.stdout)["rivers"]
    assert [(r["name"], r["type"], r["status"], r["last_run_status"]) for r in rivers] == [
        ("orders", "src_to_trgt", "active", None)
    ]
    river_id = rivers[0]["river_id"]

    ran = _headwater(env, tmp_path, "run", "orders", "--wait")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "final status: succeeded" in ran.stdout

    table = _headwater(env, tmp_path, "rivers", "list")
    assert table.returncode == 0 and "succeeded at" in table.stdout and river_id in table.stdout

    # The run by id works too; an unknown name fails with one line naming it.
    again = _headwater(env, tmp_path, "run", river_id)
    assert again.returncode == 0, again.stdout + again.stderr
    missing = _headwater(env, tmp_path, "run", "no such flow")
    assert missing.returncode == 1
    assert "'no such flow'" in missing.stderr and "headwater rivers list" in missing.stderr

    warehouse = next(data_dir.rglob("*.duckdb"))
    with duckdb.connect(str(warehouse), read_only=True) as db:
        names = {
            row[0]
            for row in db.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        assert {"orders", "customers"} <= names
        assert "orders.csv.gz" not in names
        assert db.execute("SELECT count(*), sum(amount) FROM orders").fetchone() == (
            250,
            sum(i * 3 for i in range(250)),
        )
        assert db.execute("SELECT count(*) FROM customers").fetchone() == (3,)

    # The trigger was audited as the account's admin, from the CLI.
    engine = create_engine(f"sqlite:///{data_dir / 'headwater.db'}")
    with engine.connect() as connection:
        events = connection.execute(
            text(
                "SELECT actor_type, details FROM audit_events WHERE action = 'river.run' "
                "AND entity_id = :id"
            ),
            {"id": river_id},
        ).all()
    engine.dispose()
    assert len(events) == 2
    assert all(actor == "user" for actor, _ in events)
    assert all(json.loads(details)["via"] == "cli" for _, details in events)
