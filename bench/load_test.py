"""Load test: 50 concurrent clients for 60 s against ``headwater up`` on PostgreSQL.

Each client loops over a weighted mix: trigger a river (tiny copies), poll the status of a run it
triggered, query the Activities API. It records every request's latency and outcome. Afterwards
it checks that nothing was lost or invented: every run group a trigger returned exists exactly
once in the metadata database, and every group of the bench's rivers in the database was returned
by exactly one trigger. Errors are 5xx answers, timeouts and transport failures; ``202`` triggers
whose group is ``skipped`` (the river already had a group in flight) are expected and counted.

    python bench/load_test.py [--clients 50] [--seconds 60] [--rivers 20] [--api-workers 1]
                              [--think-ms 0] [--json out.json]

``--think-ms M`` makes each client pause after every answer for a random time with mean M ms
(exponential), as a polling client or an orchestrator does; 0 (the default) is a closed loop
with no pause, which measures the most the server can take (and, by Little's law, a mean
latency of clients / throughput whatever the server does).

The report gives the CPU seconds the API process used while the clients ran, per request
(``api_cpu_ms_per_request``, the server's own process: meaningful with one API process), and
the CPU of the server's whole process tree (API and run workers), read from ``/proc``: unlike
latency, CPU per request hardly depends on what else the machine is doing.

``--api-workers N`` serves with ``headwater up --workers N`` (N API processes on one port).

Needs the PostgreSQL server of the test suite (``HEADWATER_TEST_PG_URL``). Exits non-zero when a
check fails. Not part of the default test suite; figures are recorded in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_stats import percentiles
from tests.conftest import create_pg_database, drop_pg_database
from tests.live import (
    TOKEN_SCOPES,
    Api,
    Proc,
    descendants,
    fill_table,
    libpq,
    make_cluster,
)

MIX = (("trigger", 2), ("status", 5), ("activities", 3))
TIMES = {"start_time": "2000-01-01T00:00:00", "end_time": "2100-01-01T00:00:00"}


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # every group id a trigger returned
    skipped: int = 0
    runs: list[tuple[str, str]] = field(default_factory=list)  # (river, run) to poll


@dataclass
class BenchServer:
    """``headwater up`` on PostgreSQL metadata with rivers copying a 10-row table."""

    server: Proc
    base: str
    token: dict[str, str]
    pg: dict[str, str]  # meta, src, dst
    rivers: list[str]

    @property
    def prefix(self) -> str:
        return (
            f"/v1/accounts/{self.token['account_id']}/environments/{self.token['environment_id']}"
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token['token']}"}


@contextlib.contextmanager
def bench_server(name: str, rivers: int, extra: tuple[str, ...] = ()) -> Iterator[BenchServer]:
    """Fresh databases ``hw_<name>_{meta,src,dst}``, the server, a token with every scope and
    ``rivers`` rivers; everything is stopped and dropped afterwards."""
    pg = {part: create_pg_database(f"hw_{name}_{part}") for part in ("meta", "src", "dst")}
    cluster = make_cluster(
        Path(tempfile.mkdtemp(prefix=f"hw-{name}-")),
        pg,
        HEADWATER_RATE_LIMIT_PER_MINUTE="1000000",
        HEADWATER_LOG_LEVEL="WARNING",
    )
    try:
        fill_table(pg["src"], "tiny", 10)
        server, base = cluster.server(extra=extra, health_limit=300)
        token = cluster.token(*TOKEN_SCOPES)
        api = Api(base, token)
        made = api.tiny_rivers(pg, rivers)
        api.close()
        yield BenchServer(server, base, token, pg, made)
    finally:
        cluster.stop_all()
        for url in pg.values():
            drop_pg_database(url)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process and of its threads (not of its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """``root`` and every process descending from it (API workers, run worker processes)."""
    return [root, *descendants(root)]


def tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


async def client_loop(
    client: aiohttp.ClientSession,
    prefix: str,
    rivers: list[str],
    tally: Tally,
    until: float,
    think: float,
) -> None:
    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    while time.monotonic() < until:
        if think:
            await asyncio.sleep(random.expovariate(1 / think))
        kind = random.choice(kinds)
        if kind == "status" and not tally.runs:
            kind = "trigger"
        river = random.choice(rivers)
        started = time.perf_counter()
        try:
            if kind == "trigger":
                call = client.post(f"{prefix}/rivers/{river}/run", json={})
            elif kind == "status":
                river, run = random.choice(tally.runs[-200:])
                call = client.get(f"{prefix}/rivers/{river}/runs/{run}")
            else:
                call = client.get(f"{prefix}/activities", params=TIMES)
            async with call as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            tally.outcomes[f"{kind} error"] += 1
            continue
        tally.latencies[kind].append(time.perf_counter() - started)
        tally.outcomes[f"{kind} {status}"] += 1
        if status >= 500:
            tally.errors.append(f"{kind}: HTTP {status}: {text[:200]}")
            continue
        if kind == "trigger" and status == 202:
            body = json.loads(text)
            tally.groups.append(body["run_group_id"])
            if body["status"] == "skipped":
                tally.skipped += 1
            tally.runs.append((river, body["runs"][0]["run_id"]))
        elif kind == "trigger":
            tally.errors.append(f"trigger: HTTP {status}: {text[:200]}")


async def drive(bench: BenchServer, args: Any) -> Tally:
    """The clients, on aiohttp: it costs about a third of httpx's CPU per request, CPU that
    the generator would otherwise take from the server it measures on the same cores."""
    tally = Tally()
    prefix, rivers = bench.prefix, bench.rivers
    connector = aiohttp.TCPConnector(limit=args.clients)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(
        base_url=bench.base, headers=bench.headers, connector=connector, timeout=timeout
    ) as client:
        until = time.monotonic() + args.seconds
        await asyncio.gather(
            *(
                client_loop(client, prefix, rivers, tally, until, args.think_ms / 1000)
                for _ in range(args.clients)
            )
        )
    return tally


def wait_all_final(meta_url: str, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with psycopg.connect(libpq(meta_url)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM run_groups WHERE status IN ('pending', 'running')"
            ).fetchone()
        if row is not None and row[0] == 0:
            return
        time.sleep(0.5)
    raise AssertionError("run groups still in flight two minutes after the load stopped")


def account_for(meta_url: str, groups: list[str], rivers: list[str]) -> dict[str, Any]:
    """Every returned group exists once; every DB group of the bench rivers was returned once."""
    with psycopg.connect(libpq(meta_url)) as conn:
        rows = conn.execute(
            "SELECT id, status FROM run_groups WHERE river_id = ANY(%s)", (rivers,)
        ).fetchall()
    in_db = Counter(str(r[0]) for r in rows)
    returned = Counter(groups)
    statuses = Counter(str(r[1]) for r in rows)
    return {
        "returned": len(groups),
        "in_db": sum(in_db.values()),
        "returned_twice": sorted(g for g, n in returned.items() if n > 1),
        "missing_in_db": sorted(set(returned) - set(in_db)),
        "never_returned": sorted(set(in_db) - set(returned)),
        "statuses": dict(statuses),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rivers", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--think-ms", type=float, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    extra = ("--workers", str(args.api_workers)) if args.api_workers > 1 else ()
    with bench_server("load", args.rivers, extra) as bench:
        root = bench.server.process.pid
        api_before, tree_before = cpu_seconds(root), tree_cpu(process_tree(root))
        own_before = time.process_time()
        started = time.monotonic()
        tally = asyncio.run(drive(bench, args))
        elapsed = time.monotonic() - started
        api_cpu = cpu_seconds(root) - api_before
        # processes that ended during the load are missed: a lower bound
        server_cpu = tree_cpu(process_tree(root)) - tree_before
        generator_cpu = time.process_time() - own_before
        wait_all_final(bench.pg["meta"])
        accounting = account_for(bench.pg["meta"], tally.groups, bench.rivers)
    requests = sum(len(v) for v in tally.latencies.values()) + len(tally.errors)
    report = {
        "clients": args.clients,
        "think_ms": args.think_ms,
        "api_workers": args.api_workers,
        "load_average": os.getloadavg(),
        "seconds": round(elapsed, 1),
        "requests": requests,
        "requests_per_second": round(requests / elapsed, 1),
        "api_cpu_seconds": round(api_cpu, 1),
        "api_cpu_ms_per_request": round(1000 * api_cpu / max(requests, 1), 2),
        "server_tree_cpu_seconds": round(server_cpu, 1),
        "generator_cpu_ms_per_request": round(1000 * generator_cpu / max(requests, 1), 2),
        "errors": len(tally.errors),
        "error_samples": tally.errors[:5],
        "skipped_triggers": tally.skipped,
        "outcomes": dict(sorted(tally.outcomes.items())),
        "latency_ms": {kind: percentiles(values) for kind, values in tally.latencies.items()},
        "accounting": accounting,
    }
    print(json.dumps(report, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    ok = (
        not tally.errors
        and not accounting["returned_twice"]
        and not accounting["missing_in_db"]
        and not accounting["never_returned"]
        and accounting["returned"] == accounting["in_db"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
