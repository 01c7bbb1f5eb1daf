"""``GET /metrics`` at scale: how long one scrape's run metrics take over many run records.

Seeds run records with the Activities benchmark's generator (``activities_bench.py``: rivers,
run groups and runs over a year, mixed statuses and river types), then times
``services.run_metrics.collect`` (every run metric family of one scrape) next to a bare
``SELECT count(*) FROM runs`` (one scan of the runs table, the floor of any all-time
aggregate) in the same run, and prints both with their ratio.

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
    scrape, scan = [], []
    now = datetime.now(UTC)
    for _ in range(args.repeat):
        with Session(engine) as session:
            started = time.perf_counter()
            found = run_metrics.collect(session, now)
            scrape.append(time.perf_counter() - started)
        with engine.connect() as connection:
            started = time.perf_counter()
            connection.execute(text("SELECT count(*) FROM runs")).scalar_one()
            scan.append(time.perf_counter() - started)
    runs = sum(found.tables_finished.values())
    p50_scrape, p50_scan = statistics.median(scrape), statistics.median(scan)
    groups = sum(found.started.values())
    print(f"{engine.dialect.name}: {runs:,} finished table runs, {groups:,} groups")
    print(f"| run metrics of one scrape | {p50_scrape * 1000:.0f} ms |")
    print(f"| SELECT count(*) FROM runs | {p50_scan * 1000:.0f} ms |")
    print(f"| ratio | {p50_scrape / p50_scan:.1f}x |")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak_mb:.0f} MB (includes seeding unless --reuse)")
    engine.dispose()


if __name__ == "__main__":
    main()
