"""Copy benchmark: Headwater's engine against the raw COPY pipe, in the same run.

    python bench/copy_bench.py setup            # build the events tables (PostgreSQL, MariaDB)
    python bench/copy_bench.py [--repeat 3]     # time every copy, print a Markdown table

Workload: ``make_events_pg.sql`` (2,000,000 rows, 10 columns incl. numeric, jsonb,
timestamptz) in PostgreSQL database ``hw_bench_src``; the same rows in MariaDB database
``hw_bench_src``; a 200,000-row prefix ``events_200k`` in both to check that memory stays
flat when the table grows 10x. Targets go to PostgreSQL database ``hw_bench_dst``.

Each Headwater copy runs in a child process (``python copy_bench.py _copy ...``) so its
wall time includes interpreter start-up, like the ``psql`` processes of the raw pipe, and its
peak RSS is the child's own ``ru_maxrss``. Times on a shared 2-core machine are noisy: compare
the ratios measured within one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-v", "ON_ERROR_STOP=1"]
MYSQL = ["mysql", "-h127.0.0.1", "-uroot"]
SRC, DST = "hw_bench_src", "hw_bench_dst"
SIZES = {"events_200k": 200_000, "events": 2_000_000}
PG_PROPS = {"host": "127.0.0.1", "port": 5432, "username": "postgres", "password": ""}
MY_PROPS = {"host": "127.0.0.1", "port": 3306, "username": "root", "password": "", "database": SRC}
#: DuckDB target file for ``--target duckdb`` (deleted before each copy).
DUCKDB_DST = os.environ.get("HW_BENCH_DUCKDB", "/tmp/hw_bench_dst.duckdb")


def sh(command: str) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, stdout=subprocess.DEVNULL)


def setup() -> None:
    pg = " ".join(PG)
    sh(
        f"{pg} -d postgres -c 'DROP DATABASE IF EXISTS {SRC}' -c 'DROP DATABASE IF EXISTS {DST}'"
        f" -c 'CREATE DATABASE {SRC}' -c 'CREATE DATABASE {DST}'"
    )
    sh(f"{pg} -d {SRC} -f {HERE / 'make_events_pg.sql'}")
    # the raw pipes create their targets LIKE events: the destination needs its definition
    sh(f"pg_dump -h 127.0.0.1 -U postgres -s -t public.events {SRC} | {pg} -d {DST}")
    sh(
        f"{pg} -d {SRC} -c 'CREATE TABLE events_200k AS SELECT * FROM events WHERE id <= 200000'"
        f" -c 'ALTER TABLE events_200k ADD PRIMARY KEY (id)' -c 'ANALYZE events_200k'"
    )
    my = " ".join(MYSQL)
    sh(
        f"{my} -e 'DROP DATABASE IF EXISTS {SRC}; CREATE DATABASE {SRC}; "
        "SET GLOBAL local_infile = 1'"
    )
    ddl = (
        "(id bigint primary key, user_id int not null, amount decimal(12,2), score double, "
        "name text, country char(2), is_active boolean, created_at datetime(6) not null, "
        "day date, payload json)"
    )
    tsv = Path("/tmp/hw_bench_events.tsv")
    sh(
        f'{pg} -d {SRC} -c "\\copy (select id, user_id, amount, score, name, country, '
        f"is_active::int, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), day, "
        f"payload from events order by id) to '{tsv}'\""
    )
    for table, rows in SIZES.items():
        sh(f"{my} {SRC} -e 'CREATE TABLE {table} {ddl}'")
        sh(f"head -n {rows} {tsv} > {tsv}.{table}")
        sh(
            f"{my} --local-infile=1 {SRC} -e \"LOAD DATA LOCAL INFILE '{tsv}.{table}' "
            f'INTO TABLE {table}"'
        )
        Path(f"{tsv}.{table}").unlink()
    tsv.unlink()
    print("bench data ready")


def child_copy(kind: str, table: str, target: str = "postgres") -> None:
    """Run one Headwater copy in this (child) process."""
    from headwater.engine import TableJob, run_table_job

    source, props = (
        ("postgres", {**PG_PROPS, "database": SRC}) if kind == "pg" else ("mysql", MY_PROPS)
    )
    target_props = {"path": DUCKDB_DST} if target == "duckdb" else {**PG_PROPS, "database": DST}
    result = run_table_job(
        TableJob(
            source,
            props,
            target,
            target_props,
            source_table=table,
            target_table=f"{table}_hw_{kind}",
        )
    )
    print(result.rows, result.native, file=sys.stderr)


def timed(command: list[str] | str) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS in MB."""
    start = time.perf_counter()
    args = ["bash", "-o", "pipefail", "-c", command] if isinstance(command, str) else command
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {command}")
    return elapsed, usage.ru_maxrss / 1024


def raw_pg(table: str) -> str:
    pg = " ".join(PG)
    prep = (
        f"{pg} -d {DST} -c 'DROP TABLE IF EXISTS {table}_raw' "
        f"-c 'CREATE TABLE {table}_raw (LIKE events)'"
    )
    copy = (
        f"psql -h 127.0.0.1 -U postgres -d {SRC} -c 'COPY {table} TO STDOUT (FORMAT binary)'"
        f" | {pg} -d {DST} -c 'COPY {table}_raw FROM STDIN (FORMAT binary)'"
    )
    sh(prep)
    return copy


def raw_my(table: str) -> str:
    pg = " ".join(PG)
    sh(
        f"{pg} -d {DST} -c 'DROP TABLE IF EXISTS {table}_rawmy' "
        f"-c 'CREATE TABLE {table}_rawmy (LIKE events)'"
    )
    return (
        f"mysql -h127.0.0.1 -uroot --batch --raw --skip-column-names --quick {SRC} -e "
        f"'select id,user_id,amount,score,name,country,is_active=1,created_at,day,payload "
        f"from {table}' | {pg} -d {DST} -c 'COPY {table}_rawmy FROM STDIN'"
    )


def run_duckdb(repeat: int) -> None:
    """PostgreSQL -> DuckDB (``--target duckdb``): Headwater only, no raw pipe to compare."""
    me = [sys.executable, str(Path(__file__).resolve()), "_copy"]
    print("| copy | rows | Headwater | Headwater peak RSS | all runs, s / MB |")
    print("|---|---|---|---|---|")
    for table, count in SIZES.items():
        times, rss_all = [], []
        for _ in range(repeat):
            for leftover in (DUCKDB_DST, f"{DUCKDB_DST}.wal"):
                Path(leftover).unlink(missing_ok=True)
            seconds, rss = timed([*me, "pg", table, "duckdb"])
            times.append(seconds)
            rss_all.append(rss)
        t = statistics.median(times)
        print(
            f"| PostgreSQL -> DuckDB | {count:,} | {t:.2f} s ({count / t:,.0f} rows/s) | "
            f"{max(rss_all):.0f} MB | {', '.join(f'{s:.1f}' for s in times)} / "
            f"{', '.join(f'{r:.0f}' for r in rss_all)} |",
            flush=True,
        )


def run(repeat: int) -> None:
    me = [sys.executable, str(Path(__file__).resolve()), "_copy"]
    rows: list[str] = []
    for table, count in SIZES.items():
        for kind, raw in (("pg", raw_pg), ("mysql", raw_my)):
            raw_times, hw_times, raw_rss, hw_rss = [], [], [], []
            for _ in range(repeat):
                seconds, rss = timed(raw(table))
                raw_times.append(seconds)
                raw_rss.append(rss)
                seconds, rss = timed([*me, kind, table])
                hw_times.append(seconds)
                hw_rss.append(rss)
            raw_t, hw_t = statistics.median(raw_times), statistics.median(hw_times)
            label = "PostgreSQL -> PostgreSQL" if kind == "pg" else "MariaDB -> PostgreSQL"
            rows.append(
                f"| {label} | {count:,} | {raw_t:.2f} s ({count / raw_t:,.0f} rows/s) | "
                f"{hw_t:.2f} s ({count / hw_t:,.0f} rows/s) | {hw_t / raw_t:.2f}x | "
                f"{max(hw_rss):.0f} MB | {', '.join(f'{t:.1f}' for t in hw_times)} / "
                f"{', '.join(f'{t:.1f}' for t in raw_times)} |"
            )
            print(rows[-1], flush=True)
    print()
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, median of {repeat}"
    )
    print(
        "| copy | rows | raw pipe | Headwater | ratio | Headwater peak RSS | "
        "all runs (Headwater / raw), s |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="run", choices=["run", "setup", "_copy"])
    parser.add_argument("args", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--target",
        choices=["postgres", "duckdb"],
        default="postgres",
        help="duckdb: copy PostgreSQL -> DuckDB (file HW_BENCH_DUCKDB) instead of the raw-pipe "
        "comparison",
    )
    options = parser.parse_args()
    if options.command == "setup":
        setup()
    elif options.command == "_copy":
        child_copy(*options.args)
    elif options.target == "duckdb":
        run_duckdb(options.repeat)
    else:
        run(options.repeat)


if __name__ == "__main__":
    main()
