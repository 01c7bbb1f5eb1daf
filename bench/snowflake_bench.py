"""Snowflake target benchmark: Headwater's load into fakesnow against the native path, one run.

    python bench/copy_bench.py setup              # once: the events tables in PostgreSQL
    # or: createdb hw_bench_sf && psql -d hw_bench_sf -f bench/make_events_pg.sql
    #     HW_BENCH_SRC=hw_bench_sf python bench/snowflake_bench.py
    python bench/snowflake_bench.py [--table events] [--repeat 1]

Both paths start from PostgreSQL's ``events`` table (``make_events_pg.sql``, 2,000,000 rows)
in database ``hw_bench_src`` and end with the rows in a table of a fakesnow server (started
here from the test suite's cached venv, on a free loopback port):

* native: ``psql COPY ... TO STDOUT`` piped into DuckDB, which writes one Parquet file, then
  ``PUT`` of that file to the table's stage and ``COPY INTO`` the table (created first);
* Headwater: ``run_table_job`` (overwrite) into a new table, in a child process whose wall
  time includes start-up and whose peak RSS is its own ``VmHWM``.

fakesnow is DuckDB behind an HTTP API, so the figures compare Headwater's staging and
publishing against the same server's fastest load, not Snowflake's speed.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.connectors.fakesnow_server import fakesnow_server, snowflake_props  # noqa: E402

#: The source database (``HW_BENCH_SRC``; ``copy_bench.py setup`` builds ``hw_bench_src``).
SRC = os.environ.get("HW_BENCH_SRC", "hw_bench_src")
PG_PROPS = {
    "host": "127.0.0.1",
    "port": 5432,
    "username": "postgres",
    "password": "",
    "database": SRC,
}


def native(table: str, props: dict[str, object]) -> float:
    """PostgreSQL -> DuckDB -> Parquet -> PUT -> COPY INTO; seconds."""
    import duckdb

    from headwater.connectors.snowflake.conn import connect, run

    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "events.csv"
        parquet = Path(folder) / "events.parquet"
        conn = connect(props)
        try:
            run(
                conn,
                f"CREATE OR REPLACE TABLE NATIVE_{table.upper()} (id NUMBER(19,0), "
                "user_id NUMBER(10,0), amount NUMBER(12,2), score FLOAT, name VARCHAR, "
                "country VARCHAR(2), is_active BOOLEAN, created_at TIMESTAMP_TZ(6), day DATE, "
                "payload VARCHAR)",
            )
            started = time.perf_counter()
            subprocess.run(
                [
                    "psql",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    SRC,
                    "-q",
                    "-c",
                    f"\\copy {table} TO '{csv}' (FORMAT csv, HEADER)",
                ],
                check=True,
            )
            duck = duckdb.connect()
            duck.execute(
                f"COPY (SELECT * REPLACE (created_at::TIMESTAMPTZ AS created_at) FROM "
                f"read_csv('{csv}', header = true)) TO '{parquet}' (FORMAT parquet)"
            )
            duck.close()
            csv.unlink()
            run(conn, f"PUT 'file://{parquet}' @%NATIVE_{table.upper()} AUTO_COMPRESS=FALSE")
            run(
                conn,
                f"COPY INTO NATIVE_{table.upper()} FROM @%NATIVE_{table.upper()} "
                "FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE",
            )
            elapsed = time.perf_counter() - started
            rows = run(conn, f"SELECT COUNT(*) FROM NATIVE_{table.upper()}")[0][0]
        finally:
            conn.close()
    print(f"native: {rows} rows in {elapsed:.2f} s", file=sys.stderr)
    return elapsed


def headwater(table: str, props: dict[str, object]) -> tuple[float, float]:
    """The same copy by Headwater in a child process; (seconds, peak RSS in MB)."""
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "_copy", table, repr(props)],
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    return elapsed, float(child.stdout.strip().splitlines()[-1])


def copy_child(table: str, props_text: str) -> None:
    import ast

    from headwater.engine import TableJob, run_table_job

    props = ast.literal_eval(props_text)
    job = TableJob("postgres", PG_PROPS, "snowflake", props, source_table=table)
    result = run_table_job(job)
    print(f"headwater: {result.rows} rows", file=sys.stderr)
    print(peak_rss_mb())


def peak_rss_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux keeps that across ``fork`` and
    ``execve``, so a child would report the parent's peak (here: DuckDB's native run)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", default="events")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()}", file=sys.stderr)
    with fakesnow_server(Path(tempfile.gettempdir()) / "hw-bench-fakesnow.log") as port:
        rows = []
        for _ in range(args.repeat):
            props = snowflake_props(port)
            raw = native(args.table, props)
            took, rss = headwater(args.table, props)
            rows.append((raw, took, rss))
    print(f"load after: {os.getloadavg()}", file=sys.stderr)
    print("| table | native (DuckDB Parquet, PUT, COPY INTO) | Headwater | ratio | peak RSS |")
    print("|---|---|---|---|---|")
    for raw, took, rss in rows:
        print(f"| {args.table} | {raw:.2f} s | {took:.2f} s | {took / raw:.2f}x | {rss:.0f} MB |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_copy":
        copy_child(sys.argv[2], sys.argv[3])
    else:
        main()
