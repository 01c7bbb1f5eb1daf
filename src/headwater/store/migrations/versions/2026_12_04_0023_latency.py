"""Run metric totals kept by triggers, and the indexes the ``/metrics`` gauges read.

Why: ``GET /metrics`` aggregated every run group and run at each scrape (3.3 to 3.9 s at a
million runs, growing with history). Now every change to a run group or run that a metric
counts (insert, status, duration, rows, bytes, delete) appends its difference to
``run_metric_deltas`` in the same transaction, from database triggers, so no writer (ORM
flush, Core UPDATE, bulk load, cascaded delete) can bypass it. A scrape folds the deltas into
``run_metric_totals`` (at most a few rows per river type, status and duration bucket) and
reads both: its cost depends on the number of river types and on what changed since the last
scrape, not on the number of runs kept (``services/run_metrics.py``).

Deltas are appended, never upserted into one counter row, so concurrent run transactions
never wait on each other's locks (a hot counter row updated in different orders by the
trigger, start and finish of runs would also deadlock).

Histogram buckets are stored per bucket (the index of the first ``DURATION_BUCKETS`` bound
the duration does not exceed; 12 past the last bound; -1 when the row is not timed), made
cumulative when read. Durations are summed in whole microseconds.

The gauges read ``run_groups`` by ``(status, start_time)`` (oldest pending) and the CDC lag
reads a partial index of the runs that recorded a lag (``ix_runs_cdc_lag``, by ``end_time``),
not every run of the last day.

On SQLite a future batch migration that recreates ``runs`` or ``run_groups`` drops their
triggers: recreate them (``tests/store/test_run_metric_totals.py`` checks they exist at head).

Revision ID: 0023_latency
Revises: 0022
Create Date: 2026-12-04 20:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_latency"
down_revision = "0023_run_parts"
branch_labels = None
depends_on = None

#: Frozen copy of ``services.run_metrics.DURATION_BUCKETS`` (a change needs a new migration).
BOUNDS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
_TIMED = "('succeeded', 'failed', 'canceled', 'partially succeeded')"  # final, not skipped

_GROUP_SECONDS = {
    "postgresql": "EXTRACT(EPOCH FROM {r}.end_time - {r}.start_time)",
    "sqlite": "((julianday({r}.end_time) - julianday({r}.start_time)) * 86400.0)",
}
_BIGINT = {"postgresql": "BIGINT", "sqlite": "INTEGER"}
#: Copy of ``services.run_metrics.CDC_LAG_PREDICATE``: the query repeats it word for word so
#: the planner can prove it implies the index's predicate.
CDC_LAG_PREDICATE = {
    "postgresql": "(details ->> 'cdc_lag_seconds') IS NOT NULL",
    "sqlite": "json_extract(details, '$.cdc_lag_seconds') IS NOT NULL",
}


def _bucket(seconds: str, scale: int = 1) -> str:
    whens = " ".join(f"WHEN {seconds} <= {b * scale} THEN {i}" for i, b in enumerate(BOUNDS))
    return f"CASE {whens} ELSE {len(BOUNDS)} END"


COLUMNS = "kind, river_type, status, bucket, n, total_rows, total_size, micros"


def _select(values: list[str], aliased: bool) -> str:
    if not aliased:
        return ", ".join(values)
    return ", ".join(f"{v} AS {c}" for v, c in zip(values, COLUMNS.split(", "), strict=True))


def group_values(dialect: str, r: str, sign: str = "", *, aliased: bool = False) -> str:
    """kind, river_type, status, bucket, n, total_rows, total_size, micros of group ``r``."""
    seconds = _GROUP_SECONDS[dialect].format(r=r)
    timed = f"{r}.status IN {_TIMED} AND {r}.end_time IS NOT NULL"
    micros = f"CAST(ROUND({seconds} * 1000000) AS {_BIGINT[dialect]})"
    values = [
        "'group'",
        f"{r}.river_type",
        f"{r}.status",
        f"CASE WHEN {timed} THEN {_bucket(seconds)} ELSE -1 END",
        f"{sign}1",
        f"{sign}COALESCE({r}.total_rows, 0)",
        f"{sign}COALESCE({r}.total_size, 0)",
        f"{sign}CASE WHEN {timed} THEN {micros} ELSE 0 END",
    ]
    return _select(values, aliased)


def run_values(r: str, river_type: str, sign: str = "", *, aliased: bool = False) -> str:
    """The same columns for run ``r`` of a group of ``river_type`` (no rows or bytes)."""
    timed = f"{r}.status IN {_TIMED} AND {r}.duration_ms IS NOT NULL"
    values = [
        "'table'",
        river_type,
        f"{r}.status",
        f"CASE WHEN {timed} THEN {_bucket(f'{r}.duration_ms', 1000)} ELSE -1 END",
        f"{sign}1",
        "0",
        "0",
        f"{sign}CASE WHEN {timed} THEN {r}.duration_ms * 1000 ELSE 0 END",
    ]
    return _select(values, aliased)


INSERT = f"INSERT INTO run_metric_deltas ({COLUMNS})"
GROUP_COUNTED = ("river_type", "status", "start_time", "end_time", "total_rows", "total_size")
RUN_COUNTED = ("run_group_id", "status", "duration_ms")


def _add_group(dialect: str, r: str, sign: str) -> str:
    return f"{INSERT} VALUES ({group_values(dialect, r, sign)});"


def _add_run(r: str, sign: str) -> str:
    # no row once the group is gone: its BEFORE DELETE trigger already took the runs out
    return (
        f"{INSERT} SELECT {run_values(r, 'g.river_type', sign)}"
        f" FROM run_groups g WHERE g.id = {r}.run_group_id;"
    )


def _group_runs_out(r: str) -> str:
    return (
        f"{INSERT} SELECT {run_values('x', f'{r}.river_type', '-')}"
        f" FROM runs x WHERE x.run_group_id = {r}.id;"
    )


def _changed_pg(columns: tuple[str, ...]) -> str:
    return "({}) IS DISTINCT FROM ({})".format(
        ", ".join(f"OLD.{c}" for c in columns), ", ".join(f"NEW.{c}" for c in columns)
    )


POSTGRES = [
    f"""
CREATE OR REPLACE FUNCTION run_metric_groups_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    {_add_group("postgresql", "OLD", "-")}
    {_group_runs_out("OLD")}
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    {_add_group("postgresql", "OLD", "-")}
  END IF;
  {_add_group("postgresql", "NEW", "")}
  RETURN NULL;
END
$$
""",
    f"""
CREATE OR REPLACE FUNCTION run_metric_runs_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    {_add_run("OLD", "-")}
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    {_add_run("NEW", "")}
  END IF;
  RETURN NULL;
END
$$
""",
    "CREATE TRIGGER run_groups_metrics_insert AFTER INSERT ON run_groups"
    " FOR EACH ROW EXECUTE FUNCTION run_metric_groups_apply()",
    f"CREATE TRIGGER run_groups_metrics_update AFTER UPDATE OF {', '.join(GROUP_COUNTED)}"
    f" ON run_groups FOR EACH ROW WHEN ({_changed_pg(GROUP_COUNTED)})"
    " EXECUTE FUNCTION run_metric_groups_apply()",
    "CREATE TRIGGER run_groups_metrics_delete BEFORE DELETE ON run_groups"
    " FOR EACH ROW EXECUTE FUNCTION run_metric_groups_apply()",
    "CREATE TRIGGER runs_metrics_insert_delete AFTER INSERT OR DELETE ON runs"
    " FOR EACH ROW EXECUTE FUNCTION run_metric_runs_apply()",
    f"CREATE TRIGGER runs_metrics_update AFTER UPDATE OF {', '.join(RUN_COUNTED)} ON runs"
    f" FOR EACH ROW WHEN ({_changed_pg(RUN_COUNTED)}) EXECUTE FUNCTION run_metric_runs_apply()",
]


def _changed_sqlite(columns: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


SQLITE = [
    "CREATE TRIGGER run_groups_metrics_insert AFTER INSERT ON run_groups"
    f" BEGIN {_add_group('sqlite', 'NEW', '')} END",
    f"CREATE TRIGGER run_groups_metrics_update AFTER UPDATE OF {', '.join(GROUP_COUNTED)}"
    f" ON run_groups WHEN {_changed_sqlite(GROUP_COUNTED)}"
    f" BEGIN {_add_group('sqlite', 'OLD', '-')} {_add_group('sqlite', 'NEW', '')} END",
    "CREATE TRIGGER run_groups_metrics_delete BEFORE DELETE ON run_groups"
    f" BEGIN {_add_group('sqlite', 'OLD', '-')} {_group_runs_out('OLD')} END",
    f"CREATE TRIGGER runs_metrics_insert AFTER INSERT ON runs BEGIN {_add_run('NEW', '')} END",
    f"CREATE TRIGGER runs_metrics_delete AFTER DELETE ON runs BEGIN {_add_run('OLD', '-')} END",
    f"CREATE TRIGGER runs_metrics_update AFTER UPDATE OF {', '.join(RUN_COUNTED)} ON runs"
    f" WHEN {_changed_sqlite(RUN_COUNTED)}"
    f" BEGIN {_add_run('OLD', '-')} {_add_run('NEW', '')} END",
]

SQLITE_TRIGGER_NAMES = (
    "run_groups_metrics_insert",
    "run_groups_metrics_update",
    "run_groups_metrics_delete",
    "runs_metrics_insert",
    "runs_metrics_delete",
    "runs_metrics_update",
)


def backfill_sql(dialect: str) -> str:
    """The totals of the existing groups and runs: one GROUP BY over each table."""
    contributions = (
        f"SELECT {group_values(dialect, 'g', aliased=True)} FROM run_groups g"
        f" UNION ALL SELECT {run_values('r', 'g.river_type', aliased=True)}"
        " FROM runs r JOIN run_groups g ON g.id = r.run_group_id"
    )
    return (
        f"INSERT INTO run_metric_totals ({COLUMNS})"
        " SELECT kind, river_type, status, bucket, SUM(n), SUM(total_rows), SUM(total_size),"
        f" SUM(micros) FROM ({contributions}) AS c"
        " GROUP BY kind, river_type, status, bucket"
    )


def _metric_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("river_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("micros", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "run_metric_totals",
        *_metric_columns(),
        sa.PrimaryKeyConstraint(
            "kind", "river_type", "status", "bucket", name=op.f("pk_run_metric_totals")
        ),
    )
    op.create_table(
        "run_metric_deltas",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        *_metric_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_metric_deltas")),
    )
    op.create_index("ix_run_groups_status_start", "run_groups", ["status", "start_time"])
    dialect = op.get_bind().dialect.name
    op.create_index(
        "ix_runs_cdc_lag",
        "runs",
        ["end_time"],
        postgresql_where=sa.text(CDC_LAG_PREDICATE["postgresql"]),
        sqlite_where=sa.text(CDC_LAG_PREDICATE["sqlite"]),
    )
    op.execute(backfill_sql(dialect))
    for statement in POSTGRES if dialect == "postgresql" else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table in (
            ("run_groups_metrics_insert", "run_groups"),
            ("run_groups_metrics_update", "run_groups"),
            ("run_groups_metrics_delete", "run_groups"),
            ("runs_metrics_insert_delete", "runs"),
            ("runs_metrics_update", "runs"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS run_metric_groups_apply()")
        op.execute("DROP FUNCTION IF EXISTS run_metric_runs_apply()")
    else:
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_runs_cdc_lag", table_name="runs")
    op.drop_index("ix_run_groups_status_start", table_name="run_groups")
    op.drop_table("run_metric_deltas")
    op.drop_table("run_metric_totals")
