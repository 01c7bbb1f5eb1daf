"""One large table PostgreSQL -> PostgreSQL split across 1, 2 and 4 Celery worker processes.

Fills ``big`` (id bigint key, text, numeric, timestamptz) in a source database, starts
``headwater server`` on Redis with N ``headwater worker`` processes (concurrency 1 each) for
each N, runs one river with ``settings.parallel_partitions`` and times trigger -> run final.
Beside it, in the same run, the native floor: ``psql COPY TO STDOUT | psql COPY FROM STDIN``
of the same table. Prints seconds, rows/s, the ratio to the floor, the peak RSS of each
worker, and each part's rate (rows/s of its own attempt), the figures ``docs/scaling.md``
models separate machines from. Checks the target's row count after every copy.

    python bench/partitions_bench.py [--rows 2000000] [--parts 4] [--workers 1,2,4]

Needs the test suite's PostgreSQL and Redis. JSON to ``bench/results/partitions.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import create_pg_database, drop_pg_database
from tests.live import TOKEN_SCOPES, Api, libpq, make_cluster

RESULTS = Path(__file__).resolve().parent / "results"
DDL = "CREATE TABLE {} (id bigint PRIMARY KEY, body text, amount numeric(14,2), at timestamptz)"


def fill(url: str, rows: int) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(DDL.format("big"))
        conn.execute(
            "INSERT INTO big SELECT g, md5(g::text), (g * 0.5)::numeric(14,2),"
            " '2026-01-01'::timestamptz + g * interval '1 second'"
            f" FROM generate_series(1, {rows}) g"
        )
        conn.execute("VACUUM ANALYZE big")


def raw_copy(src: str, dst: str) -> float:
    """The floor: one binary COPY stream from source to target through two psql."""
    with psycopg.connect(libpq(dst), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS big_raw")
        conn.execute(DDL.format("big_raw"))
    started = time.monotonic()
    subprocess.run(
        f"psql -q '{libpq(src)}' -c 'COPY big TO STDOUT (FORMAT binary)' | "
        f"psql -q '{libpq(dst)}' -c 'COPY big_raw FROM STDIN (FORMAT binary)'",
        shell=True,
        check=True,
    )
    return time.monotonic() - started


def count(url: str, table: str) -> int:
    with psycopg.connect(libpq(url)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a live process (and its children, none for the threads pool)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def part_timings(meta: str, run_id: str) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Each part's rows, seconds and worker; the run's phases: queued (trigger -> claimed),
    plan (-> first part), parts (-> last part committed), publish (-> run end)."""
    with psycopg.connect(libpq(meta)) as conn:
        parts = conn.execute(
            "SELECT part, rows, extract(epoch FROM finished_at - started_at), worker,"
            " attempts, finished_at FROM run_parts WHERE run_id = %s ORDER BY part",
            (run_id,),
        ).fetchall()
        times = conn.execute(
            "SELECT start_time, started_at, end_time,"
            " (SELECT min(started_at) FROM run_parts WHERE run_id = %s) FROM runs WHERE id = %s",
            (run_id, run_id),
        ).fetchone()
    assert times is not None
    created, claimed, end, first = times
    last = max(p[5] for p in parts)
    phases = {
        "queued_s": round((claimed - created).total_seconds(), 2),
        "plan_s": round((first - claimed).total_seconds(), 2),
        "parts_s": round((last - first).total_seconds(), 2),
        "publish_s": round((end - last).total_seconds(), 2),
    }
    return [
        {
            "part": p[0],
            "rows": int(p[1]),
            "seconds": round(float(p[2]), 2),
            "rows_per_s": round(int(p[1]) / float(p[2])) if p[2] else 0,
            "worker": p[3],
            "attempts": p[4],
        }
        for p in parts
    ], phases


def wait_workers(broker: str, n: int, limit: float = 300) -> None:
    """Until ``n`` workers answer a ping (their start is not part of the copy's time)."""
    from celery import Celery

    app = Celery("bench", broker=broker)
    deadline = time.monotonic() + limit
    try:
        while len(app.control.ping(timeout=1.0)) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"{n} workers not ready within {limit} s")
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--parts", type=int, default=4)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    dbs = {n: create_pg_database(f"hw_partsbench_{n}") for n in ("meta", "src", "dst")}
    results: dict[str, Any] = {"rows": args.rows, "parts": args.parts, "runs": []}
    try:
        started = time.monotonic()
        fill(dbs["src"], args.rows)
        print(f"filled {args.rows} rows in {time.monotonic() - started:.1f} s", flush=True)
        results["raw_seconds"] = raw = raw_copy(dbs["src"], dbs["dst"])
        assert count(dbs["dst"], "big_raw") == args.rows
        print(f"raw COPY | COPY: {raw:.1f} s, {args.rows / raw:,.0f} rows/s", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            broker = f"redis://127.0.0.1:6379/{1 + uuid.uuid4().int % 15}"
            cluster = make_cluster(
                Path(tmp), dbs, HEADWATER_EXECUTOR="celery", HEADWATER_CELERY_BROKER_URL=broker
            )
            try:
                _, base = cluster.server(command="server", health_limit=120)
                api = Api(base, cluster.token(*TOKEN_SCOPES))
                connections = {}
                for name in ("src", "dst"):
                    body = {
                        "connection_name": name,
                        "connection_type": "postgres",
                        "properties": {
                            "host": "127.0.0.1",
                            "port": 5432,
                            "database": dbs[name].rsplit("/", 1)[1],
                            "username": "postgres",
                            "password": "unused-with-trust",
                        },
                    }
                    connections[name] = api.call("POST", "/connections", 201, json=body)[
                        "connection_id"
                    ]
                river = api.call(
                    "POST",
                    "/rivers",
                    201,
                    json={
                        "name": "big",
                        "type": "source_to_target",
                        "properties": {
                            "source": {"connection_id": connections["src"]},
                            "target": {
                                "connection_id": connections["dst"],
                                "schema_name": "public",
                            },
                            "schemas": [{"name": "public", "tables": [{"name": "big"}]}],
                        },
                        "settings": {"parallel_partitions": args.parts},
                    },
                )["cross_id"]
                for n in counts:
                    workers = [
                        cluster.start(f"w{n}-{i}", "worker", "--concurrency", "1") for i in range(n)
                    ]
                    wait_workers(broker, n)
                    began = time.monotonic()
                    run_id = api.run(river)["runs"][0]["run_id"]
                    run = api.wait_run(river, run_id, limit=3600)
                    seconds = time.monotonic() - began
                    assert run["status"] == "succeeded", run
                    assert count(dbs["dst"], "big") == args.rows
                    rss = [round(peak_rss_mb(w.process.pid), 1) for w in workers]
                    parts, phases = part_timings(dbs["meta"], run_id)
                    for worker in workers:
                        worker.kill()
                    entry = {
                        "workers": n,
                        "seconds": round(seconds, 2),
                        "rows_per_s": round(args.rows / seconds),
                        "ratio_to_raw": round(seconds / raw, 2),
                        **phases,
                        "peak_rss_mb": rss,
                        "workers_used": len({p["worker"] for p in parts}),
                        "parts": parts,
                    }
                    results["runs"].append(entry)
                    print(json.dumps(entry), flush=True)
                api.close()
            finally:
                cluster.stop_all()
    finally:
        for url in dbs.values():
            drop_pg_database(url)
    with open("/proc/loadavg") as handle:
        results["loadavg"] = handle.read().split()[:3]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "partitions.json").write_text(json.dumps(results, indent=2))
    print(
        "\n| workers | seconds | rows/s | x raw COPY | plan s | parts s | publish s "
        "| part rows/s (mean) | peak RSS MB/worker |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| raw COPY\\|COPY | {raw:.1f} | {args.rows / raw:,.0f} | 1.00 | | | | | |")
    for e in results["runs"]:
        mean = sum(p["rows_per_s"] for p in e["parts"]) / len(e["parts"])
        print(
            f"| {e['workers']} | {e['seconds']} | {e['rows_per_s']:,} | {e['ratio_to_raw']} "
            f"| {e['plan_s']} | {e['parts_s']} | {e['publish_s']} | {mean:,.0f} "
            f"| {', '.join(map(str, e['peak_rss_mb']))} |"
        )
    print(f"load average after: {' '.join(results['loadavg'])}")


if __name__ == "__main__":
    main()
