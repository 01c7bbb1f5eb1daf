"""Load a generated CSV (1 GB by default) into DuckDB and PostgreSQL; print time and peak RSS.

Each load runs in its own child process so its peak RSS (``ru_maxrss`` from ``wait4``) is its
own. For each target, Headwater's load (``local_files`` -> target, the production engine) is
timed next to the target's native bulk path on the same file: DuckDB's own ``read_csv``, and
PostgreSQL's ``COPY FROM STDIN`` (DuckDB's postgres extension needs a download, which an
offline machine cannot do). The CSV is written to a temporary folder and deleted afterwards.

Wall and CPU seconds (user + system, from ``wait4``) are printed per load, with the ratio to
the native loader and ``/proc/loadavg`` before and after.

    python bench/csv_bench.py [--size-mb 1024] [--targets duckdb,postgres] [--csv FILE]
                              [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PG_URL = os.environ.get("HEADWATER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def generate(path: Path, size_bytes: int) -> int:
    """A CSV with ints, decimals, timestamps, and quoted text (commas, quotes, newlines)."""
    rng = random.Random(42)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    written = rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,created_at,customer,amount,category,note\n")
        while written < size_bytes:
            lines = []
            for _ in range(20_000):
                rows += 1
                note = " ".join(rng.choices(words, k=rng.randint(3, 12)))
                if rows % 50 == 0:
                    note = f'"{note}, with ""quotes""\nand a newline"'
                lines.append(
                    f"{rows},2024-{1 + rows % 12:02d}-{1 + rows % 28:02d}T"
                    f"{rows % 24:02d}:{rows % 60:02d}:{rows % 59:02d}Z,"
                    f"customer {rows % 100_000},{rng.randint(0, 10**6) / 100:.2f},"
                    f"{words[rows % len(words)]},{note}\n"
                )
            chunk = "".join(lines)
            handle.write(chunk)
            written += len(chunk.encode())
    return rows


# -- children (one load each) --------------------------------------------------------------------


def child(kind: str, target: str, csv_path: str, db: str) -> None:
    if kind == "headwater":
        from headwater.engine import TableJob, run_table_job

        props: dict[str, Any] = {"path": db} if target == "duckdb" else _pg_props(db)
        result = run_table_job(
            TableJob(
                "local_files",
                {"root": str(Path(csv_path).parent)},
                target,
                props,
                source_table=Path(csv_path).name,
                target_table="bench_headwater",
            )
        )
        print(f"ROWS {result.rows}")
    elif target == "duckdb":
        import duckdb

        conn = duckdb.connect(db)
        conn.execute(
            f"CREATE OR REPLACE TABLE bench_native AS SELECT * FROM read_csv('{csv_path}')"
        )
        print(f"ROWS {conn.execute('SELECT count(*) FROM bench_native').fetchone()[0]}")  # type: ignore[index]
        conn.close()
    else:
        import psycopg

        with psycopg.connect(_pg_url(db), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_native")
            conn.execute(
                "CREATE TABLE bench_native (id bigint, created_at timestamptz, customer text, "
                "amount numeric(12,2), category text, note text)"
            )
            with (
                conn.cursor() as cur,
                cur.copy("COPY bench_native FROM STDIN (FORMAT csv, HEADER true)") as copy,
                open(csv_path, "rb") as handle,
            ):
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
            count = conn.execute("SELECT count(*) FROM bench_native").fetchone()
            print(f"ROWS {count[0] if count else 0}")


def _pg_url(database: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + "/" + database


def _pg_props(database: str) -> dict[str, Any]:
    import psycopg

    info = psycopg.conninfo.conninfo_to_dict(PG_URL)
    return {
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port", 5432)),
        "database": database,
        "username": info.get("user", "postgres"),
        "password": info.get("password") or "",
    }


def measure(kind: str, target: str, csv_path: Path, db: str) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds, peak RSS in MB, and the child's ROWS line."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, target, str(csv_path), db],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{kind} -> {target} failed with exit code {proc.returncode}")
    rows = next((line for line in output.splitlines() if line.startswith("ROWS")), "ROWS ?")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--targets", default="duckdb,postgres")
    parser.add_argument("--repeat", type=int, default=1, help="runs per loader (medians)")
    parser.add_argument("--csv", help="load this CSV file instead of generating one")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "TARGET", "CSV", "DB"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="hw-csv-bench-") as tmp:
        if args.csv:
            csv_path = Path(args.csv).resolve()
            print(f"using {csv_path} ({csv_path.stat().st_size / 1024 / 1024:.0f} MB)")
        else:
            csv_path = Path(tmp) / "bench.csv"
            started = time.perf_counter()
            rows = generate(csv_path, args.size_mb * 1024 * 1024)
            size = csv_path.stat().st_size
            print(
                f"generated {size / 1024 / 1024:.0f} MB, {rows} rows "
                f"in {time.perf_counter() - started:.1f} s"
            )
        print(f"loadavg before: {Path('/proc/loadavg').read_text().strip()}")
        print(
            f"{'target':10} {'loader':22} {'wall s':>7} {'CPU s':>7} {'wall x':>7} "
            f"{'CPU x':>6} {'peak RSS MB':>12}  rows"
        )
        for target in args.targets.split(","):
            if target == "duckdb":
                db = str(Path(tmp) / "bench.duckdb")
                cleanup = None
                kinds = ("native", "headwater")
            else:
                import psycopg

                db = f"hw_csv_bench_{os.getpid()}"
                with psycopg.connect(PG_URL, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{db}"')
                cleanup = db
                kinds = ("native", "headwater")
            try:
                # alternate the loaders, then take each one's median (busy machines vary 2x)
                runs: dict[str, list[tuple[float, float, float, str]]] = {k: [] for k in kinds}
                for _ in range(args.repeat):
                    for kind in kinds:
                        runs[kind].append(measure(kind, target, csv_path, db))
                base = (0.0, 0.0)
                for kind in kinds:
                    seconds = statistics.median(r[0] for r in runs[kind])
                    cpu = statistics.median(r[1] for r in runs[kind])
                    rss = max(r[2] for r in runs[kind])
                    rows_line = runs[kind][-1][3]
                    if kind == "native":
                        base = (seconds, cpu)
                    name = {"headwater": "headwater"}.get(
                        kind, "duckdb read_csv" if target == "duckdb" else "postgres COPY"
                    )
                    print(
                        f"{target:10} {name:22} {seconds:7.1f} {cpu:7.1f} "
                        f"{seconds / base[0]:6.2f}x {cpu / base[1]:5.2f}x {rss:12.0f}  "
                        f"{rows_line[5:]}",
                        flush=True,
                    )
            finally:
                if cleanup:
                    import psycopg

                    with psycopg.connect(PG_URL, autocommit=True) as admin:
                        admin.execute(f'DROP DATABASE IF EXISTS "{cleanup}" WITH (FORCE)')
        print(f"loadavg after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
