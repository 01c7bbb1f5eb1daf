"""Many-table river: N small tables PostgreSQL -> PostgreSQL through ``headwater up``.

Creates N tables of R rows in a source database, one river selecting all of them, triggers
it through the API and times trigger -> every run final. Beside it, in the same run, the
native floor: one ``pg_dump | psql`` of the same tables (schema and data), the least any tool
pays to move them. Prints a Markdown row with the ratio, the per-table cost and the peak RSS of
the server process tree. Checks that every target table has the source's rows.

    python bench/many_tables_bench.py [--tables 200] [--rows 1000] [--profile out.prof]

``--profile`` runs the group once more with ``headwater run`` under cProfile (in this process
tree, no server) and writes the stats file. Needs the test suite's PostgreSQL and ``pg_dump``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import create_pg_database, drop_pg_database
from tests.live import TOKEN_SCOPES, Api, libpq, make_cluster


def fill_tables(url: str, tables: int, rows: int) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for i in range(tables):
            conn.execute(
                f"CREATE TABLE t_{i:04d} (id bigint PRIMARY KEY, body text, "
                "amount numeric(14,2), at timestamptz)"
            )
            conn.execute(
                f"INSERT INTO t_{i:04d} SELECT g, md5(g::text), (g * 0.5)::numeric(14,2),"
                f" '2026-01-01'::timestamptz + g * interval '1 minute'"
                f" FROM generate_series(1, {rows}) g"
            )


def river_body(source: str, target: str, tables: int) -> dict[str, Any]:
    return {
        "name": f"{tables} tables",
        "type": "source_to_target",
        "properties": {
            "source": {"connection_id": source},
            "target": {"connection_id": target, "schema_name": "public"},
            "schemas": [
                {"name": "public", "tables": [{"name": f"t_{i:04d}"} for i in range(tables)]}
            ],
        },
    }


def wait_group(meta: str, group_id: str, limit: float) -> dict[str, int]:
    """Poll the metadata DB until the group is final; its runs' statuses counted."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with psycopg.connect(libpq(meta)) as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM runs WHERE run_group_id = %s GROUP BY status",
                (group_id,),
            ).fetchall()
        statuses = {str(r[0]): int(r[1]) for r in rows}
        if not statuses.get("pending") and not statuses.get("running"):
            return statuses
        time.sleep(0.1)
    raise AssertionError(f"river not finished within {limit} s")


def profile_again(workdir: Path, meta: str, river_id: str, out: Path) -> None:
    """Trigger the river again and execute its group in this thread under cProfile."""
    import cProfile

    from headwater.runner.context import RunnerContext
    from headwater.runner.execute import execute_run_group
    from headwater.services.triggering import start_river
    from headwater.settings import Settings
    from headwater.store.base import utcnow
    from headwater.store.engine import make_engine, make_session_factory
    from headwater.store.models.rivers import River

    # One table at a time: cProfile sees only this thread.
    settings = Settings(data_dir=workdir / "data", database_url=libpq(meta), table_concurrency=1)
    engine = make_engine(settings.resolved_database_url())
    sessions = make_session_factory(engine)
    with sessions() as session:
        river = session.get_one(River, river_id)
        group = start_river(session, river, trigger="api", now=utcnow(), submit=lambda _id: None)
        session.commit()
        group_id = group.id
    context = RunnerContext(settings=settings, sessions=sessions, clock=utcnow)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(execute_run_group, context, group_id)
    print(f"profiled run: {time.perf_counter() - started:.2f} s", file=sys.stderr)
    profiler.dump_stats(str(out))
    engine.dispose()


def native_copy(src: str, dst: str) -> float:
    started = time.perf_counter()
    dump = subprocess.Popen(["pg_dump", "--no-owner", libpq(src)], stdout=subprocess.PIPE)
    subprocess.run(["psql", "-q", "-o", "/dev/null", libpq(dst)], stdin=dump.stdout, check=True)
    dump.wait()
    return time.perf_counter() - started


def tree_rss_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of a process and its live children, summed, in MB."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if int(entry.name) == pid or int(stat[3]) == pid:
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
    return total / 1024


def check_copied(dst: str, tables: int, rows: int) -> None:
    with psycopg.connect(libpq(dst)) as conn:
        for i in range(tables):
            row = conn.execute(f"SELECT count(*) FROM t_{i:04d}").fetchone()
            assert row is not None and row[0] == rows, (i, row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--limit", type=float, default=900)
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()
    pg = {name: create_pg_database(f"hw_many_{name}") for name in ("meta", "src", "dst", "nat")}
    workdir = Path(tempfile.mkdtemp(prefix="hw-many-"))
    cluster = make_cluster(workdir, pg, HEADWATER_LOG_LEVEL="WARNING")
    try:
        fill_tables(pg["src"], args.tables, args.rows)
        native = native_copy(pg["src"], pg["nat"])
        proc, base = cluster.server(health_limit=300)
        api = Api(base, cluster.token(*TOKEN_SCOPES))
        source = api.pg_connection("src", pg["src"].rsplit("/", 1)[1])
        target = api.pg_connection("dst", pg["dst"].rsplit("/", 1)[1])
        river = str(
            api.call("POST", "/rivers", 201, json=river_body(source, target, args.tables))[
                "cross_id"
            ]
        )
        started = time.perf_counter()
        group = api.run(river)
        statuses = wait_group(pg["meta"], group["run_group_id"], args.limit)
        elapsed = time.perf_counter() - started
        rss = tree_rss_mb(proc.process.pid)
        api.close()
        check_copied(pg["dst"], args.tables, args.rows)
        if args.profile is not None:
            cluster.stop_all()
            profile_again(workdir, pg["meta"], river, args.profile)
    finally:
        cluster.stop_all()
        for url in pg.values():
            drop_pg_database(url)
    report = {
        "tables": args.tables,
        "rows_per_table": args.rows,
        "headwater_s": round(elapsed, 2),
        "per_table_ms": round(1000 * elapsed / args.tables, 1),
        "native_pg_dump_psql_s": round(native, 2),
        "ratio": round(elapsed / native, 2),
        "server_tree_peak_rss_mb": round(rss, 1),
        "statuses": statuses,
        "load": os.getloadavg(),
        "bench_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    print(json.dumps(report, indent=2))
    return 0 if statuses.get("succeeded") == args.tables else 1


if __name__ == "__main__":
    raise SystemExit(main())
