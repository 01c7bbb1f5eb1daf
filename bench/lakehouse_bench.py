"""Lakehouse benchmark: PostgreSQL -> Iceberg / Delta with Headwater against one pyarrow write.

    python bench/lakehouse_bench.py setup          # the events table in hw_bench_lake (~2 min)
    python bench/lakehouse_bench.py [--repeat 3]   # time every copy, print a Markdown table

Workload: ``make_events_pg.sql`` (2,000,000 rows, 10 columns incl. numeric, jsonb,
timestamptz) in PostgreSQL database ``hw_bench_lake``. For each format two child processes,
in the same run:

* native: the whole table read into one Arrow table (ConnectorX, as fast as PostgreSQL hands
  it out) and written with one call of the format's library (pyiceberg ``Table.append`` into
  a new table of a SQLite catalog; ``deltalake.write_deltalake`` into a new folder);
* headwater: ``run_table_job`` from the ``postgres`` connector into the ``iceberg`` /
  ``delta`` connector (streamed batches, one commit with the cursor state).

Each copy's wall time includes interpreter start-up; peak RSS is the child's ``ru_maxrss``.
The machine is shared: compare ratios within one run and note ``uptime`` beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DB = "hw_bench_lake"
PG_PROPS = {
    "host": "127.0.0.1",
    "port": 5432,
    "username": "postgres",
    "password": "",
    "database": DB,
}
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{DB}"


def setup() -> None:
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-v", "ON_ERROR_STOP=1"]
    subprocess.run([*psql, "-d", "postgres", "-c", f"DROP DATABASE IF EXISTS {DB}"], check=True)
    subprocess.run([*psql, "-d", "postgres", "-c", f"CREATE DATABASE {DB}"], check=True)
    subprocess.run([*psql, "-d", DB, "-f", str(HERE / "make_events_pg.sql")], check=True)


def target_props(fmt: str, work: Path) -> dict[str, str]:
    if fmt == "iceberg":
        return {"catalog_uri": str(work / "catalog.sqlite"), "warehouse": str(work / "wh")}
    return {"root": str(work / "lake")}


def child(mode: str, fmt: str, work: Path, table: str) -> None:
    """One copy, in this (child) process."""
    if mode == "headwater":
        from headwater.engine import TableJob, run_table_job

        job = TableJob("postgres", PG_PROPS, fmt, target_props(fmt, work), source_table=table)
        run_table_job(job)
        return
    import connectorx as cx

    data = cx.read_sql(PG_URL, f"SELECT * FROM {table}", return_type="arrow")
    if fmt == "iceberg":
        from pyiceberg.catalog.sql import SqlCatalog

        (work / "wh").mkdir(parents=True, exist_ok=True)
        catalog = SqlCatalog(
            "bench", uri=f"sqlite:///{work / 'catalog.sqlite'}", warehouse=f"file://{work / 'wh'}"
        )
        catalog.create_namespace_if_not_exists("default")
        catalog.create_table(("default", table), schema=data.schema).append(data)
    else:
        from deltalake import write_deltalake

        write_deltalake(str(work / "lake" / "default" / table), data)


def run_child(mode: str, fmt: str, table: str) -> tuple[float, float]:
    work = Path(tempfile.mkdtemp(prefix="hw-lake-bench-"))
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "_child", mode, fmt, str(work), table],
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{mode} {fmt} failed: {done.stderr[-2000:]}")
        return elapsed, json.loads(done.stdout.strip().splitlines()[-1])["rss_mb"]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", default="run")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--table", default="events")
    parser.add_argument("--formats", default="iceberg,delta")
    ns = parser.parse_args()
    if ns.command == "setup":
        setup()
        return
    if ns.command == "_child":
        mode, fmt, work, table = ns.args
        child(mode, fmt, Path(work), table)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"rss_mb": round(rss, 1)}))
        return
    print(f"load before: {os.getloadavg()}")
    print("| target | native s (RSS MB) | Headwater s (RSS MB) | ratio |")
    print("|---|---|---|---|")
    for fmt in ns.formats.split(","):
        native, headwater = [], []
        for _ in range(ns.repeat):  # interleaved, so both see the same machine load
            native.append(run_child("native", fmt, ns.table))
            headwater.append(run_child("headwater", fmt, ns.table))
        n = statistics.median(t for t, _ in native)
        h = statistics.median(t for t, _ in headwater)
        n_rss = max(r for _, r in native)
        h_rss = max(r for _, r in headwater)
        print(f"| {fmt} | {n:.1f} ({n_rss:.0f}) | {h:.1f} ({h_rss:.0f}) | {h / n:.2f} |")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
