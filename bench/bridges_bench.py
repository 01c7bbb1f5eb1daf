"""Airbyte source bridge: airbyte-source-faker users into DuckDB and PostgreSQL, through
Headwater and, in the same run, through PyAirbyte (the ``airbyte`` package) on the same
installed connector.

Every contender runs in a child process of its own, so its peak RSS (``ru_maxrss``) is its
own; the connector's processes (faker and its worker pool) are children of that child and are
reported separately (the largest one, ``RUSAGE_CHILDREN``). PyAirbyte lives in its own cached
venv (``~/.cache/headwater-test-venvs/pyairbyte-0.71.3``, built on first use) because its pins
fight Headwater's.

Meltano is not a contender: tried for real (Meltano 4.4.1 offline with custom plugins works),
but PyPI's ``tap-airbyte`` 0.0.2 needs Python <3.11, has no native mode (it runs
``/airbyte/base.sh``, the Docker image's layout: ``FileNotFoundError: '/airbyte'``) and, with a
shim there, crashes on faker's first per-stream STATE (``UnboundLocalError: ...
'unpacked_state'``); the wrapper with a native mode installs only from Git, unreachable here.
Details in docs/benchmarks.md.

    python bench/bridges_bench.py                       # 1,000,000 users, DuckDB and PostgreSQL
    python bench/bridges_bench.py --count 200000 --targets duckdb

Target: Headwater's records/s at least 2x PyAirbyte's, Headwater's peak RSS under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from headwater.connectors.bridges import packages
from headwater.connectors.bridges.venvs import ensure_venv

CACHE = Path(
    os.environ.get("HEADWATER_TEST_VENVS") or Path.home() / ".cache" / "headwater-test-venvs"
)
FAKER = "airbyte-source-faker==7.2.1"
PYAIRBYTE = "airbyte==0.71.3"
PG = "postgresql://postgres@127.0.0.1:5432"

HEADWATER_CHILD = """
import json, resource, sys, time
from headwater.engine import TableJob, run_table_job
args = json.loads(sys.argv[1])
job = TableJob("airbyte", args["source"], args["target"], args["target_props"],
               source_table="users", target_table="users", load_method="overwrite")
started = time.perf_counter()
result = run_table_job(job)
seconds = time.perf_counter() - started
open(sys.argv[2], "w").write(json.dumps({"rows": result.rows, "seconds": seconds,
  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  "connector_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

PYAIRBYTE_CHILD = """
import json, resource, sys, time, os
os.environ["DO_NOT_TRACK"] = "1"
os.environ["AIRBYTE_OFFLINE_MODE"] = "1"
import airbyte as ab
from airbyte.caches import DuckDBCache, PostgresCache
args = json.loads(sys.argv[1])
source = ab.get_source("source-faker", config=args["config"], local_executable=args["exe"],
                       streams=["users"])
if args["target"] == "duckdb":
    cache = DuckDBCache(db_path=args["path"], schema_name="main")
else:
    cache = PostgresCache(host="127.0.0.1", port=5432, username="postgres", password="",
                          database=args["database"], schema_name="public")
started = time.perf_counter()
result = source.read(cache=cache, force_full_refresh=True)
seconds = time.perf_counter() - started
rows = len(cache["users"].to_pandas()) if args["count_rows"] else None
open(sys.argv[2], "w").write(json.dumps({"rows": rows, "seconds": seconds,
  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  "connector_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _child(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run a contender; it writes its figures to a file (PyAirbyte takes over stdout)."""
    out = cwd / "result.json"
    out.unlink(missing_ok=True)
    # PyAirbyte writes its JSONL buffers to ./.cache: keep them in the bench's temp dir
    done = subprocess.run(
        [*argv, str(out)], capture_output=True, text=True, env=env, cwd=cwd, check=False
    )
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"{argv[0]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _pg_database(name: str) -> str:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _pg_rows(database: str) -> int:
    with psycopg.connect(f"{PG}/{database}") as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
    return int(row[0]) if row else 0


def parse_ceiling(records: int, work: Path) -> float:
    """Records/s of Headwater's own message path (a child's stdout -> orjson -> Arrow
    batches) on faker-shaped RECORD lines replayed with ``cat``: what it could take if the
    connector were infinitely fast."""
    from headwater.connectors.bridges.jsonschema import BatchBuilder, columns_for_schema
    from headwater.connectors.bridges.process import ConnectorProcess
    from headwater.security.redact import Redactor

    schema = {
        "properties": {
            "id": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "name": {"type": "string"},
            "email": {"type": "string"},
            "age": {"type": "integer"},
            "weight": {"type": "integer"},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    }
    path = work / "records.jsonl"
    with path.open("w") as handle:
        for n in range(records):
            data = {
                "id": n,
                "created_at": "2001-02-03T11:53:10+00:00",
                "updated_at": "2026-12-04T16:50:38+00:00",
                "name": f"name {n}",
                "email": f"user{n}@example.com",
                "age": n % 90,
                "weight": 50 + n % 40,
                "address": {"city": "Bowling Green", "postal_code": "76366"},
            }
            message = {"type": "RECORD", "record": {"stream": "users", "data": data}}
            handle.write(json.dumps(message) + "\n")
    builder = BatchBuilder(columns_for_schema(schema, nested="json"), "json", "bench")
    started = time.perf_counter()
    rows = 0
    pending: list[dict[str, Any]] = []
    with ConnectorProcess(
        ["cat", str(path)],
        {},
        log=lambda *a: None,
        redactor=Redactor([]),
        label="cat",
        idle_timeout=60,
    ) as process:
        for message in process.messages():
            pending.append(message["record"]["data"])
            if len(pending) >= 10_000:
                rows += builder.build(pending).num_rows
                pending = []
        process.finish()
    rows += builder.build(pending).num_rows if pending else 0
    return rows / (time.perf_counter() - started)


def connector_alone(exe: str, config: dict[str, Any], work: Path) -> dict[str, Any]:
    """The connector's own rate: ``source-faker read`` into a reader that only counts
    RECORD lines, the ceiling any tool that runs this connector can reach."""
    (work / "alone-config.json").write_text(json.dumps(config))
    stream = {"name": "users", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
    catalog = {
        "streams": [
            {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
        ]
    }
    (work / "alone-catalog.json").write_text(json.dumps(catalog))
    argv = [exe, "read", "--config", "alone-config.json", "--catalog", "alone-catalog.json"]
    started = time.perf_counter()
    records = 0
    with subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=work) as child:
        assert child.stdout is not None
        for line in child.stdout:
            records += line.startswith(b'{"type":"RECORD"')
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "rows": records,
        "seconds": seconds,
        "rss_mb": 0.0,
        "connector_rss_mb": usage.ru_maxrss / 1024,
    }


def pyairbyte_python() -> Path:
    def run_pip(argv: Any, env: Any, cwd: Path) -> int:
        return subprocess.run(list(argv), env=dict(env), cwd=cwd, check=False).returncode

    return ensure_venv(CACHE / "pyairbyte-0.71.3", [PYAIRBYTE], run_pip, marker_text=PYAIRBYTE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--targets", default="duckdb,postgres")
    parser.add_argument("--skip-pyairbyte", action="store_true")
    parser.add_argument("--ceiling-only", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HEADWATER_CONNECTORS_DIR", str(CACHE / "connectors"))
    record = packages.install(FAKER)
    exe = str(record.bin())
    config = {
        "count": args.count,
        "seed": 1,
        "records_per_slice": 1000,
        "parallelism": 2,
        "always_updated": False,
    }
    env = {**os.environ, "DO_NOT_TRACK": "1", "AIRBYTE_OFFLINE_MODE": "1"}
    work = Path(tempfile.mkdtemp(prefix="hw-bridges-bench-"))
    load = os.getloadavg()
    ceiling = parse_ceiling(min(args.count, 500_000), work)
    print(f"Headwater message path alone (replayed RECORD lines): {ceiling:,.0f} records/s")
    if args.ceiling_only:
        return
    print(f"airbyte-source-faker {record.version}, {args.count:,} users; load {load[0]:.2f}")
    results: list[dict[str, Any]] = []
    alone = connector_alone(exe, config, work)
    alone.update(tool="connector", target="(none)")
    results.append(alone)
    print(json.dumps(alone))
    for target in args.targets.split(","):
        if target == "duckdb":
            hw_props: dict[str, Any] = {"path": str(work / "headwater.duckdb")}
        else:
            hw_props = {
                "host": "127.0.0.1",
                "username": "postgres",
                "database": _pg_database("hw_bridges_bench"),
            }
        payload = {
            "source": {"package": FAKER, "config": json.dumps(config)},
            "target": target,
            "target_props": hw_props,
        }
        ours = _child([sys.executable, "-c", HEADWATER_CHILD, json.dumps(payload)], env, work)
        ours.update(tool="headwater", target=target)
        results.append(ours)
        print(json.dumps(ours))
        if args.skip_pyairbyte:
            continue
        database = _pg_database("pyairbyte_bridges_bench") if target == "postgres" else ""
        theirs_args = {
            "config": config,
            "exe": exe,
            "target": target,
            "path": str(work / "pyairbyte.duckdb"),
            "database": database,
            "count_rows": target == "duckdb",
        }
        python = str(pyairbyte_python())
        theirs = _child([python, "-c", PYAIRBYTE_CHILD, json.dumps(theirs_args)], env, work)
        if target == "postgres":
            theirs["rows"] = _pg_rows(database)
        theirs.update(tool="pyairbyte", target=target)
        results.append(theirs)
        print(json.dumps(theirs))
    print()
    print(f"{'target':<10} {'tool':<10} {'rows':>10} {'s':>8} {'rec/s':>9} {'RSS MB':>8} conn MB")
    by_target: dict[str, dict[str, float]] = {}
    for r in results:
        rate = r["rows"] / r["seconds"] if r["seconds"] else 0.0
        by_target.setdefault(r["target"], {})[r["tool"]] = rate
        print(
            f"{r['target']:<10} {r['tool']:<10} {r['rows']:>10,} {r['seconds']:>8.1f} "
            f"{rate:>9,.0f} {r['rss_mb']:>8.0f} {r['connector_rss_mb']:>7.0f}"
        )
    ceiling = alone["rows"] / alone["seconds"]
    for target, rates in by_target.items():
        if "headwater" in rates:
            share = rates["headwater"] / ceiling
            print(f"{target}: Headwater at {share:.0%} of the connector alone")
        if rates.get("pyairbyte"):
            most = ceiling / rates["pyairbyte"]
            print(f"{target}: the most any tool can reach over PyAirbyte here = {most:.2f}x")
        if rates.get("pyairbyte") and "headwater" in rates:
            print(
                f"{target}: Headwater / PyAirbyte = {rates['headwater'] / rates['pyairbyte']:.2f}x"
            )
    end = os.getloadavg()
    print(f"load average at the end: {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}")


if __name__ == "__main__":
    main()
