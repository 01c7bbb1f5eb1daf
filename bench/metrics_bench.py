"""``GET /metrics`` at scale: how long one scrape's run metrics take over many run records.

Seeds run records with the Activities benchmark's generator (``activities_bench.py``: rivers,
run groups and runs over a year, mixed statuses and river types), then times, in the same run:
``services.run_metrics.collect`` (a scrape: fold the trigger-appended deltas, read the totals
and the indexed gauges), ``services.run_metrics.scan`` (the same figures aggregated from every
run, what a scrape did before migration 0023) and a bare ``SELECT count(*) FROM runs`` (one
scan of the runs table). The first scrape after seeding folds the deltas of every seeded row;
it is timed apart. Exits non-zero if collect and scan disagree.

    python bench/metrics_bench.py --database-url postgresql://postgres@127.0.0.1/hw_mbench \
        --runs 1000000 --groups 200000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from datetime import UTC, datetime

import activities_bench as seeding  # type: ignore[import-not-found]
from sqlalchemy import text
from sqlalchemy.orm import Session

from headwater.services import run_metrics
from headwater.settings import Settings
from headwater.store import migrate
from headwater.store.engine import make_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=200_000)
    parser.add_argument("--rivers", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    args = parser.parse_args()
    args.seed, args.calls = 7, 1
    url = Settings(database_url=args.database_url).resolved_database_url()
    engine = make_engine(url)
    if not args.reuse:
        migrate.upgrade(engine)
        seeding.seed(engine, args)
    scrape, full, scan = [], [], []
    now = datetime.now(UTC)
    with Session(engine) as session:
        pending = session.scalar(text("SELECT count(*) FROM run_metric_deltas"))
        started = time.perf_counter()
        run_metrics.collect(session, now)
        first = time.perf_counter() - started
    for _ in range(args.repeat):
        with Session(engine) as session:
            started = time.perf_counter()
            found = run_metrics.collect(session, now)
            scrape.append(time.perf_counter() - started)
        with Session(engine) as session:
            started = time.perf_counter()
            expected = run_metrics.scan(session, now)
            full.append(time.perf_counter() - started)
        with engine.connect() as connection:
            started = time.perf_counter()
            connection.execute(text("SELECT count(*) FROM runs")).scalar_one()
            scan.append(time.perf_counter() - started)
    same = all(
        getattr(found, name) == getattr(expected, name)
        for name in ("started", "finished", "tables_finished", "rows", "bytes", "pending")
    ) and all(
        mine.buckets == theirs.buckets and mine.count == theirs.count
        for name in ("run_seconds", "table_seconds")
        for mine, theirs in zip(
            getattr(found, name).values(), getattr(expected, name).values(), strict=True
        )
    )
    runs = sum(found.tables_finished.values())
    p50_scrape, p50_full, p50_scan = (statistics.median(v) for v in (scrape, full, scan))
    groups = sum(found.started.values())
    print(f"{engine.dialect.name}: {runs:,} finished table runs, {groups:,} groups")
    print(f"| first scrape, folding {pending:,} seeded deltas | {first * 1000:.0f} ms |")
    print(f"| run metrics of one scrape (totals) | {p50_scrape * 1000:.1f} ms |")
    print(f"| the same from every run (before) | {p50_full * 1000:.0f} ms |")
    print(f"| SELECT count(*) FROM runs | {p50_scan * 1000:.0f} ms |")
    print(f"totals equal to the full aggregate: {same}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB (includes seeding unless --reuse)")
    engine.dispose()
    if not same:
        raise SystemExit("collect and scan disagree")


if __name__ == "__main__":
    main()
