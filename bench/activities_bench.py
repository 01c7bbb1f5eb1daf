"""Activities API at a million runs: seed, time every endpoint, show the query plans.

Seeds 1,000,000 runs in 200,000 run groups across 500 rivers over a year (bulk insert: COPY on
PostgreSQL, executemany on SQLite; the triggers on ``runs`` fill ``run_daily_stats`` as the
rows arrive, checked against a GROUP BY afterwards), then calls every Activities endpoint
through the ASGI app in-process (auth, parsing, SQL, serialisation: everything but the socket)
for a one-month window, first page, and prints p50/p95 per endpoint plus the EXPLAIN of the
SQL each ran.

    python bench/activities_bench.py                          # SQLite file in bench/results/
    python bench/activities_bench.py --database-url postgresql://postgres@127.0.0.1/hw_bench
    python bench/activities_bench.py --reuse                  # skip seeding when already seeded

Targets: p95 under 100 ms on PostgreSQL and under 300 ms on SQLite. Results go to stdout and
``bench/results/activities-<backend>.json`` (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, event, func, insert, select, text
from sqlalchemy.orm import Session

from headwater.api.app import create_app
from headwater.security.tokens import display_prefix, hash_token, new_token_secret
from headwater.services.bootstrap import ensure_default_account
from headwater.settings import Settings
from headwater.store import migrate
from headwater.store.engine import make_engine
from headwater.store.models import ApiToken, River, RiverGroup, Run, RunGroup
from headwater.store.models.runs import run_duration_ms

RESULTS = Path(__file__).resolve().parent / "results"
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = ("2026-06-01T00:00:00", "2026-07-01T00:00:00")
# the same month shifted by 13.5 hours: partial days at both edges are read from the runs
OFF_MIDNIGHT = {"start_time": "2026-06-01T13:30:00", "end_time": "2026-07-01T13:30:00"}
TYPES = ("src_to_trgt", "src_to_trgt", "src_to_trgt", "logic", "actions")
TABLES = ("orders", "customers", "events", "invoices", "items", "payments", "refunds")
RUN_STATUS_WEIGHTS = {"succeeded": 90, "failed": 6, "canceled": 2, "skipped": 1, "running": 1}


@dataclass
class Target:
    account_id: str
    environment_id: str
    token: str
    river_ids: list[str]
    group_ids: list[tuple[str, str]]  # (river id, run group id) in the window


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=f"sqlite:///{RESULTS / 'activities.db'}")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=200_000)
    parser.add_argument("--rivers", type=int, default=500)
    parser.add_argument("--calls", type=int, default=25, help="timed calls per endpoint")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


# --- seeding ------------------------------------------------------------------------------


def bootstrap(engine: Engine) -> tuple[str, str, str]:
    """The default account and environment, and a fresh ``activities:list`` token."""
    secret = new_token_secret()
    with Session(engine) as session:
        result = ensure_default_account(
            session, admin_email="bench@example.com", admin_password="bench-password-0"
        )
        session.add(
            ApiToken(
                account_id=result.account_id,
                name="activities bench",
                token_hash=hash_token(secret),
                display_prefix=display_prefix(secret),
                scopes=["activities:list"],
            )
        )
        session.commit()
    return result.account_id, result.environment_id, secret


def make_rows(
    account_id: str, environment_id: str, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """River groups, rivers, run groups and runs as plain dicts (deterministic per --seed)."""
    rng = random.Random(args.seed)
    river_groups = [
        {
            "id": f"{index:024x}",
            "account_id": account_id,
            "environment_id": environment_id,
            "name": f"group {index}",
            "created_at": YEAR_START,
        }
        for index in range(1, 11)
    ]
    rivers = []
    for index in range(args.rivers):
        scheduled = index % 3 != 0
        rivers.append(
            {
                "id": f"{index + 1000:024x}",
                "account_id": account_id,
                "environment_id": environment_id,
                "name": f"river {index:03d} {TABLES[index % len(TABLES)]}",
                "river_type": TYPES[index % len(TYPES)],
                "status": "active",
                "group_id": river_groups[index % len(river_groups)]["id"],
                "definition": {},
                "cron_expression": "0 * * * *" if scheduled else None,
                "schedule_enabled": scheduled,
                "version": 1,
                "created_at": YEAR_START,
                "updated_at": YEAR_START,
            }
        )
    statuses = list(RUN_STATUS_WEIGHTS)
    weights = list(RUN_STATUS_WEIGHTS.values())
    per_group = args.runs // args.groups
    groups: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    year_seconds = 365 * 24 * 3600
    for index in range(args.groups):
        river = rivers[rng.randrange(len(rivers))]
        start = YEAR_START + timedelta(
            seconds=rng.randrange(year_seconds), microseconds=rng.randrange(1_000_000)
        )
        group_id = f"{index:032x}"
        run_statuses = rng.choices(statuses, weights, k=per_group)
        ends = []
        totals = [Decimal(0), 0, 0]
        for position, status in enumerate(run_statuses):
            units = Decimal(rng.randrange(0, 2_000_000)) / 1_000_000
            rows = rng.randrange(0, 100_000)
            size = rows * rng.randrange(50, 500)
            end = None if status == "running" else start + timedelta(seconds=rng.randrange(5, 900))
            ends.append(end)
            totals[0] += units
            totals[1] += rows
            totals[2] += size
            logic = river["river_type"] == "logic"
            runs.append(
                {
                    "id": f"{index:028x}{position:04x}",
                    "run_group_id": group_id,
                    "account_id": account_id,
                    "environment_id": environment_id,
                    "river_id": river["id"],
                    "sub_river_id": rivers[(index + position) % len(rivers)]["id"]
                    if logic
                    else None,
                    "source_name": None if logic else f"public.{TABLES[position % len(TABLES)]}",
                    "target_name": None if logic else TABLES[position % len(TABLES)],
                    "task_key": f"task-{position}",
                    "position": position,
                    "trigger": "scheduler",
                    "status": status,
                    "error_description": "boom" if status == "failed" else None,
                    "attempt": 1,
                    "start_time": start,
                    "started_at": start,
                    "end_time": end,
                    "duration_ms": run_duration_ms(start, end),
                    "heartbeat_at": None,
                    "worker": None,
                    "units": units,
                    "total_rows": rows,
                    "total_size": size,
                    "details": {},
                }
            )
        finished = [e for e in ends if e is not None]
        final = len(finished) == len(ends)
        distinct = set(run_statuses)
        group_status = (
            "running"
            if "running" in distinct
            else "succeeded"
            if distinct == {"succeeded"}
            else "partially succeeded"
            if "succeeded" in distinct
            else "failed"
        )
        groups.append(
            {
                "id": group_id,
                "account_id": account_id,
                "environment_id": environment_id,
                "river_id": river["id"],
                "river_type": river["river_type"],
                "trigger": "scheduler",
                "status": group_status,
                "message": None,
                "parent_run_id": None,
                "variables": {},
                "cancel_requested": False,
                "in_flight_river_id": None,
                "start_time": start,
                "end_time": max(finished) if final else None,
                "units": totals[0],
                "total_rows": totals[1],
                "total_size": totals[2],
            }
        )
    return river_groups, rivers, groups, runs


def chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def copy_rows(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL COPY through psycopg 3 (JSON columns as text, scalar defaults filled in)."""
    defaults = {
        c.name: c.default.arg
        for c in table.columns
        if c.default is not None and c.default.is_scalar and c.name not in rows[0]
    }
    columns = [c.name for c in table.columns if c.name in rows[0] or c.name in defaults]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                values = [row.get(c, defaults.get(c)) for c in columns]
                copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in values])
        raw.commit()
    finally:
        raw.close()


def seed(engine: Engine, args: argparse.Namespace) -> Target:
    account_id, environment_id, token = bootstrap(engine)
    started = time.perf_counter()
    river_groups, rivers, groups, runs = make_rows(account_id, environment_id, args)
    print(f"generated {len(runs):,} runs in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    tables = [
        (RiverGroup.__table__, river_groups),
        (River.__table__, rivers),
        (RunGroup.__table__, groups),
        (Run.__table__, runs),
    ]
    for table, rows in tables:
        if engine.dialect.name == "postgresql":
            copy_rows(engine, table, rows)
        else:
            with engine.begin() as connection:
                for chunk in chunks(rows, 20_000):
                    connection.execute(insert(table), chunk)
        print(f"  {table.name}: {len(rows):,} rows", flush=True)
    print(f"inserted in {time.perf_counter() - started:.1f} s", flush=True)
    analyze(engine)
    check_summary(engine)
    return target(engine, token)


def check_summary(engine: Engine) -> None:
    """run_daily_stats (filled by the triggers on runs during the load) equals a GROUP BY."""
    started = time.perf_counter()
    sqlite = engine.dialect.name == "sqlite"
    day = "substr(start_time, 1, 10)" if sqlite else "CAST(start_time AT TIME ZONE 'UTC' AS DATE)"
    micro = "INTEGER" if sqlite else "BIGINT"
    recomputed = (
        f"SELECT environment_id, {day} AS day, river_id, status, COUNT(*) AS run_count,"
        f" SUM(CAST(ROUND(units * 1000000) AS {micro})) AS units_micro,"
        " SUM(total_rows) AS total_rows, SUM(total_size) AS total_size,"
        " MAX(duration_ms) AS max_duration_ms, MAX(start_time) AS last_start_time"
        f" FROM runs GROUP BY environment_id, {day}, river_id, status"
    )
    stored = (
        "SELECT environment_id, day, river_id, status, run_count, units_micro, total_rows,"
        " total_size, max_duration_ms, last_start_time FROM run_daily_stats"
    )
    with engine.connect() as connection:
        missing = f"SELECT * FROM ({recomputed}) r EXCEPT {stored}"
        extra = f"{stored} EXCEPT SELECT * FROM ({recomputed}) r"
        differ = connection.scalar(
            text(f"SELECT COUNT(*) FROM ({missing} UNION ALL SELECT * FROM ({extra}) e) d")
        )
        rows = connection.scalar(text("SELECT COUNT(*) FROM run_daily_stats"))
    if differ:
        raise SystemExit(f"run_daily_stats differs from the runs on {differ} rows")
    print(
        f"run_daily_stats: {rows:,} rows, equal to a GROUP BY over the runs"
        f" (checked in {time.perf_counter() - started:.1f} s)",
        flush=True,
    )


def analyze(engine: Engine) -> None:
    started = time.perf_counter()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    print(f"analyzed in {time.perf_counter() - started:.1f} s", flush=True)


def target(engine: Engine, token: str | None = None) -> Target:
    with Session(engine) as session:
        river = session.scalars(select(River).limit(1)).one()
        if token is None:
            token = new_token_secret()
            session.add(
                ApiToken(
                    account_id=river.account_id,
                    name="activities bench",
                    token_hash=hash_token(token),
                    display_prefix=display_prefix(token),
                    scopes=["activities:list"],
                )
            )
            session.commit()
        start, end = (datetime.fromisoformat(t).replace(tzinfo=UTC) for t in WINDOW)
        river_ids = list(session.scalars(select(River.id).order_by(River.id)))
        in_window = session.execute(
            select(RunGroup.river_id, RunGroup.id)
            .where(RunGroup.start_time >= start, RunGroup.start_time < end)
            .order_by(RunGroup.id)
            .limit(200)
        ).all()
        return Target(
            river.account_id,
            river.environment_id,
            token,
            river_ids,
            [(str(r), str(g)) for r, g in in_window],
        )


# --- timing -------------------------------------------------------------------------------


def endpoints(t: Target, call: int) -> list[tuple[str, str, dict[str, str]]]:
    """(name, path, params) of every endpoint; river endpoints rotate over rivers."""
    prefix = f"/v1/accounts/{t.account_id}/environments/{t.environment_id}"
    window = {"start_time": WINDOW[0], "end_time": WINDOW[1]}
    river_id, group_id = t.group_ids[call % len(t.group_ids)]
    logic = t.river_ids[(call * 5 + 3) % len(t.river_ids)]  # every 5th river is a logic river
    river = f"{prefix}/rivers/{river_id}"
    return [
        ("activities_statistics", f"{prefix}/activities_statistics", window),
        (
            "activities_statistics (status, group, search)",
            f"{prefix}/activities_statistics",
            {**window, "status": "failed", "group_id": f"{1:024x}", "search": "orders"},
        ),
        (
            "activities_statistics (window off midnight)",
            f"{prefix}/activities_statistics",
            OFF_MIDNIGHT,
        ),
        ("activities", f"{prefix}/activities", window),
        ("activities (window off midnight)", f"{prefix}/activities", OFF_MIDNIGHT),
        (
            "activities (sort units, last runs)",
            f"{prefix}/activities",
            {**window, "sort_by": "RPUs(Units)", "return_last_runs": "true"},
        ),
        (
            "activities (sort max_duration)",
            f"{prefix}/activities",
            {**window, "sort_by": "max_duration", "sort_order": "asc"},
        ),
        ("river activities_statistics", f"{river}/activities_statistics", window),
        ("river activities_targets", f"{river}/activities_targets", window),
        ("river activities_run_groups", f"{river}/activities_run_groups", window),
        ("river activities_run_groups/{id}", f"{river}/activities_run_groups/{group_id}", {}),
        ("river activities_sub_rivers", f"{prefix}/rivers/{logic}/activities_sub_rivers", window),
        ("river runs", f"{river}/runs", window),
        ("river runs (sort units)", f"{river}/runs", {**window, "sort_by": "RPUs(Units)"}),
    ]


async def time_endpoints(engine: Engine, t: Target, calls: int) -> dict[str, dict[str, float]]:
    settings = Settings(database_url=str(engine.url), data_dir=RESULTS / "data")
    app = create_app(settings, engine=engine)
    headers = {"Authorization": f"Bearer {t.token}"}
    samples: dict[str, list[float]] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for call in range(-2, calls):  # two warm-up rounds
            for name, path, params in endpoints(t, call):
                started = time.perf_counter()
                response = await client.get(path, params=params, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{name}: {response.status_code} {response.text[:300]}")
                if call >= 0:
                    samples.setdefault(name, []).append(elapsed)
    return {name: summary(values) for name, values in samples.items()}


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return {"p50": statistics.median(ordered), "p95": p95, "max": ordered[-1], "n": len(values)}


async def explain(engine: Engine, t: Target) -> dict[str, list[str]]:
    """The plan of every SQL statement each endpoint runs (captured, then EXPLAINed)."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    settings = Settings(database_url=str(engine.url), data_dir=RESULTS / "data")
    app = create_app(settings, engine=engine)
    headers = {"Authorization": f"Bearer {t.token}"}
    plans: dict[str, list[str]] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for name, path, params in endpoints(t, 0):
            captured.clear()
            event.listen(engine, "before_cursor_execute", capture)
            try:
                await client.get(path, params=params, headers=headers)
            finally:
                event.remove(engine, "before_cursor_execute", capture)
            plans[name] = []
            for statement, parameters in captured:
                if not any(t in statement for t in ("runs", "run_daily_stats")) or not (
                    statement.lstrip().upper().startswith("SELECT")
                ):
                    continue  # auth and ownership lookups: primary-key reads
                plans[name].append(explain_one(engine, statement, parameters))
    return plans


def explain_one(engine: Engine, statement: str, parameters: Any) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            rows = connection.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + statement, parameters
            ).all()
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    lines = [str(row[-1]) for row in rows]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    engine = make_engine(Settings(database_url=args.database_url).resolved_database_url())
    backend = engine.dialect.name
    migrate.upgrade(engine)
    with Session(engine) as session:
        existing = session.scalar(select(func.count()).select_from(Run)) or 0
    if existing and args.reuse:
        print(f"reusing {existing:,} runs", flush=True)
        check_summary(engine)
        t = target(engine)
    elif existing:
        raise SystemExit("the database already has runs: pass --reuse, or use an empty database")
    else:
        t = seed(engine, args)
    results = asyncio.run(time_endpoints(engine, t, args.calls))
    plans = asyncio.run(explain(engine, t))
    out = io.StringIO()
    limit = 100 if backend == "postgresql" else 300
    out.write(
        f"\n{backend}: {args.calls} calls per endpoint, window {WINDOW[0]} .. {WINDOW[1]}\n\n"
    )
    out.write("| endpoint | p50 ms | p95 ms | max ms |\n|---|---:|---:|---:|\n")
    worst = 0.0
    for name, figures in results.items():
        worst = max(worst, figures["p95"])
        out.write(
            f"| {name} | {figures['p50']:.1f} | {figures['p95']:.1f} | {figures['max']:.1f} |\n"
        )
    out.write(f"\nworst p95 {worst:.1f} ms (target < {limit} ms)\n")
    sys.stdout.write(out.getvalue())
    for name, statements in plans.items():
        sys.stdout.write(f"\n## {name}\n")
        for plan in statements:
            sys.stdout.write(plan + "\n--\n")
    report = {
        "backend": backend,
        "calls": args.calls,
        "window": WINDOW,
        "results": results,
        "plans": plans,
    }
    (RESULTS / f"activities-{backend}.json").write_text(json.dumps(report, indent=2))
    engine.dispose()


if __name__ == "__main__":
    main()
