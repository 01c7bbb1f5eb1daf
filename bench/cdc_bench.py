"""Change capture benchmark: a sustained writer against PostgreSQL, Headwater in continuous
mode applying into PostgreSQL, changes/s and end-to-end latency.

Starts a private PostgreSQL cluster with ``wal_level=logical`` (as the tests do), fills
``bench_events`` and takes the initial snapshot; then a writer commits transactions of
inserts, updates and deletes at ``--rate`` changes/s for ``--seconds`` while a child process
runs the ``cdc`` table job in continuous mode (its peak RSS is the child's ``ru_maxrss``).
Latency is source commit -> target commit: the target table carries each row's source commit
time (``_hw_committed_at``); a poller reads its maximum every 0.2 s, and a source transaction
counts as applied at the first poll that shows it. The native reference, in the same run,
is PostgreSQL decoding the same WAL alone (``pg_logical_slot_peek_binary_changes`` of a
second slot, counted server-side): the ratio says how much of the decoding speed the
apply keeps.

    python bench/cdc_bench.py --rate 5000 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cdc_servers import PgCluster, pg_cluster  # noqa: E402

TXN_CHANGES = 500  # 250 inserts, 175 updates, 75 deletes


def job_json(cluster: PgCluster, stop_file: str, continuous: bool) -> str:
    props = cluster.props
    return json.dumps(
        {
            "source_connector": "postgres",
            "source_props": props,
            "target_connector": "postgres",
            "target_props": {**props, "database": "target"},
            "source_table": "bench_events",
            "source_schema": "public",
            "extract_method": "cdc",
            "load_method": "merge",
            "state_key": "bench",
            "cdc": {
                "name": "bench",
                "change_columns": True,
                "continuous": continuous,
                "commit_seconds": 0.5,
                "commit_changes": 20_000,
            },
            "stop_file": stop_file,
        }
    )


def child(spec: str) -> None:
    """The Headwater side: one continuous cdc job until the stop file appears."""
    from headwater.engine.jobs import CdcOptions, TableJob
    from headwater.engine.pipeline import run_table_job

    fields: dict[str, Any] = json.loads(spec)
    stop_file = fields.pop("stop_file")
    fields["cdc"] = CdcOptions(**fields["cdc"], should_stop=lambda: os.path.exists(stop_file))
    started = time.monotonic()
    result = run_table_job(TableJob(**fields))
    print(
        json.dumps(
            {
                "changes": result.details.get("cdc_changes", 0),
                "seconds": time.monotonic() - started,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def writer(cluster: PgCluster, rate: int, seconds: float, commits: list[float]) -> None:
    interval = TXN_CHANGES / rate
    next_id = 1_000_000
    with psycopg.connect(cluster.url) as conn:
        deadline = time.monotonic() + seconds
        tick = time.monotonic()
        while tick < deadline:
            low = next_id
            conn.execute(
                "INSERT INTO bench_events (id, v, note) SELECT g, g %% 100, 'n' || g "
                "FROM generate_series(%s, %s) g",
                (low, low + 249),
            )
            conn.execute(
                "UPDATE bench_events SET v = v + 1 WHERE id BETWEEN %s AND %s", (low, low + 174)
            )
            conn.execute(
                "DELETE FROM bench_events WHERE id BETWEEN %s AND %s", (low + 175, low + 249)
            )
            conn.commit()
            commits.append(time.time())
            next_id += 250
            tick += interval
            pause = tick - time.monotonic()
            if pause > 0:
                time.sleep(pause)


def poll_applied(
    cluster: PgCluster, done: threading.Event, seen: list[tuple[float, float]]
) -> None:
    """(wall time, newest source commit applied at the target) every 0.2 s."""
    url = cluster.url.rsplit("/", 1)[0] + "/target"
    while not done.is_set():
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                while not done.is_set():
                    row = conn.execute(
                        "SELECT extract(epoch FROM max(_hw_committed_at)) FROM bench_events"
                    ).fetchone()
                    if row and row[0] is not None:
                        seen.append((time.time(), float(row[0])))
                    time.sleep(0.2)
        except psycopg.Error:
            time.sleep(0.2)


def latencies(commits: list[float], seen: list[tuple[float, float]]) -> list[float]:
    out = []
    index = 0
    for commit in commits:
        while index < len(seen) and seen[index][1] < commit - 0.01:
            index += 1
        if index == len(seen):
            break
        out.append(max(seen[index][0] - commit, 0.0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=5000, help="changes per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rows", type=int, default=200_000, help="initial rows")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with pg_cluster() as cluster:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE target")
            conn.execute(
                "CREATE TABLE bench_events (id bigint PRIMARY KEY, v int, note text, "
                "at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                "INSERT INTO bench_events (id, v, note) SELECT g, g %% 100, 'n' || g "
                "FROM generate_series(1, %s) g",
                (args.rows,),
            )
        stop_file = f"/tmp/hw-cdc-bench-stop-{os.getpid()}"
        snapshot = subprocess.run(
            [sys.executable, __file__, "--child", job_json(cluster, stop_file, False)],
            capture_output=True,
            text=True,
            check=True,
        )
        print("initial snapshot:", snapshot.stdout.strip().splitlines()[-1])
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("SELECT pg_create_logical_replication_slot('bench_raw', 'pgoutput')")
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", job_json(cluster, stop_file, True)],
            stdout=subprocess.PIPE,
            text=True,
        )
        commits: list[float] = []
        seen: list[tuple[float, float]] = []
        done = threading.Event()
        poller = threading.Thread(target=poll_applied, args=(cluster, done, seen))
        poller.start()
        started = time.monotonic()
        writer(cluster, args.rate, args.seconds, commits)
        written = time.monotonic() - started
        catch_up = time.monotonic()
        while seen and seen[-1][1] < commits[-1] - 0.01 and time.monotonic() - catch_up < 120:
            time.sleep(0.2)
        caught_up = time.monotonic() - started
        Path(stop_file).touch()
        out, _ = proc.communicate(timeout=120)
        done.set()
        poller.join()
        Path(stop_file).unlink(missing_ok=True)
        report = json.loads(out.strip().splitlines()[-1])
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            t0 = time.monotonic()
            row = conn.execute(
                "SELECT count(*) FROM pg_logical_slot_peek_binary_changes('bench_raw', NULL, "
                "NULL, 'proto_version', '1', 'publication_names', 'hw_pub_bench')"
            ).fetchone()
            raw_seconds = time.monotonic() - t0
            conn.execute("SELECT pg_drop_replication_slot('bench_raw')")
        lat = sorted(latencies(commits, seen))
        changes = len(commits) * TXN_CHANGES
        applied_rate = changes / caught_up
        raw_rate = (row[0] if row else 0) / max(raw_seconds, 1e-9)
        load = os.getloadavg()
        print(f"| offered rate | {args.rate} changes/s for {written:.0f} s ({changes} changes) |")
        print(f"| sustained apply | {applied_rate:,.0f} changes/s (all applied {caught_up:.1f} s "
              "after the writer started) |")  # fmt: skip
        if lat:
            p50 = statistics.median(lat)
            p95 = lat[int(len(lat) * 0.95) - 1] if len(lat) > 1 else lat[0]
            print(f"| latency p50 / p95 | {p50:.2f} s / {p95:.2f} s ({len(lat)} transactions) |")
        print(f"| Headwater peak RSS | {report['peak_rss_mb']:.0f} MB |")
        print(f"| PostgreSQL decoding alone | {raw_rate:,.0f} messages/s (ratio "
              f"{applied_rate / raw_rate if raw_rate else 0:.2f}) |")  # fmt: skip
        print(f"| load average | {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 cores) |")


if __name__ == "__main__":
    main()
