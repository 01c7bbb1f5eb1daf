"""CPU cost of one API request, by kind: what bounds the API's throughput on given cores.

Starts ``headwater up`` on PostgreSQL metadata as ``bench/load_test.py`` does, triggers a few
runs, waits for them, then sends ``--requests`` requests of each kind one after the other (one
client, no concurrency) and reads the API process's CPU seconds from ``/proc`` around each
kind. CPU per request hardly depends on what else the machine runs, so it compares builds on a
busy machine where latency under load cannot.

    python bench/api_cost.py [--requests 400]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_stats import percentiles
from bench.load_test import TIMES, bench_server, cpu_seconds, wait_all_final


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    report: dict[str, dict[str, float]] = {}
    with bench_server("cost", 1) as bench:
        river, prefix = bench.rivers[0], bench.prefix
        with httpx.Client(base_url=bench.base, headers=bench.headers, timeout=30) as client:
            runs = []
            for _ in range(5):
                answer = client.post(f"{prefix}/rivers/{river}/run", json={})
                answer.raise_for_status()
                runs.append(answer.json()["runs"][0]["run_id"])
                wait_all_final(bench.pg["meta"])
            kinds = {
                "status": lambda n: client.get(f"{prefix}/rivers/{river}/runs/{runs[n % 5]}"),
                "activities": lambda n: client.get(f"{prefix}/activities", params=TIMES),
                "trigger": lambda n: client.post(f"{prefix}/rivers/{river}/run", json={}),
            }
            pid = bench.server.process.pid
            for kind, send in kinds.items():
                latencies = []
                before = cpu_seconds(pid)
                for n in range(args.requests):
                    started = time.perf_counter()
                    answer = send(n)
                    latencies.append(time.perf_counter() - started)
                    if answer.status_code >= 400:
                        raise SystemExit(f"{kind}: HTTP {answer.status_code}: {answer.text}")
                cpu = cpu_seconds(pid) - before
                report[kind] = {
                    "cpu_ms_per_request": round(1000 * cpu / args.requests, 2),
                    **percentiles(latencies),
                }
                print(kind, json.dumps(report[kind]), flush=True)
        wait_all_final(bench.pg["meta"])
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
