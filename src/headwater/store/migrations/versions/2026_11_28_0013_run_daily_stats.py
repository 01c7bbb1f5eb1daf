"""A summary of runs per environment, UTC day, river and status, kept by database triggers.

Why: the environment-wide Activities endpoints (``activities_statistics``, the ``activities``
rollup) aggregated every run of a window: about 83,000 index entries for a month at a million
runs a year, 60 to 90 ms of SQL on PostgreSQL, over the 100 ms p95 target once the request is
added. They now read whole UTC days of the window from ``run_daily_stats`` and only the partial
days at its edges from ``runs`` (docs/activities.md, "Performance").

The summary is maintained by triggers on ``runs``, not by application code, so it cannot drift
from the runs whatever writes them: ORM flushes, Core UPDATEs (``mark_running``), bulk loads
(COPY), cascaded and bulk deletes. Each change subtracts the old row's contribution and adds
the new one in the same transaction; counts and sums are exact deltas, and the two maxima
(duration, trigger time) are recomputed from the runs of that one river-day-status when the
row that held them leaves it. The backfill below fills it from the existing runs.

On SQLite a future batch migration that recreates ``runs`` drops its triggers: recreate them
(``tests/store/test_run_daily_stats.py`` checks they exist at head).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SUMMED = (
    "run_count",
    "units_micro",
    "total_rows",
    "total_size",
    "max_duration_ms",
    "last_start_time",
)
COUNTED = "environment_id, river_id, start_time, status, units, total_rows, total_size, duration_ms"

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION run_daily_stats_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_day date;
  old_from timestamptz;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    old_day := (OLD.start_time AT TIME ZONE 'UTC')::date;
    old_from := old_day::timestamp AT TIME ZONE 'UTC';
    -- the UPDATE locks the summary row first, so the recount below sees every committed run
    UPDATE run_daily_stats SET
      run_count = run_count - 1,
      units_micro = units_micro - CAST(ROUND(OLD.units * 1000000) AS BIGINT),
      total_rows = total_rows - OLD.total_rows,
      total_size = total_size - OLD.total_size
    WHERE environment_id = OLD.environment_id AND day = old_day
      AND river_id = OLD.river_id AND status = OLD.status;
    DELETE FROM run_daily_stats
    WHERE environment_id = OLD.environment_id AND day = old_day
      AND river_id = OLD.river_id AND status = OLD.status AND run_count = 0;
    -- COALESCE: a multi-row statement's row triggers run after all of its rows changed, so
    -- the runs may already be gone; the count then reaches 0 and the row goes
    UPDATE run_daily_stats SET (max_duration_ms, last_start_time) = (
      SELECT max(r.duration_ms), COALESCE(max(r.start_time), run_daily_stats.last_start_time)
      FROM runs r
      WHERE r.river_id = OLD.river_id AND r.start_time >= old_from
        AND r.start_time < old_from + interval '1 day'
        AND r.environment_id = OLD.environment_id AND r.status = OLD.status)
    WHERE environment_id = OLD.environment_id AND day = old_day
      AND river_id = OLD.river_id AND status = OLD.status
      AND (max_duration_ms <= OLD.duration_ms OR last_start_time <= OLD.start_time);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO run_daily_stats AS s (environment_id, day, river_id, status, run_count,
      units_micro, total_rows, total_size, max_duration_ms, last_start_time)
    VALUES (NEW.environment_id, (NEW.start_time AT TIME ZONE 'UTC')::date, NEW.river_id,
      NEW.status, 1, CAST(ROUND(NEW.units * 1000000) AS BIGINT), NEW.total_rows,
      NEW.total_size, NEW.duration_ms, NEW.start_time)
    ON CONFLICT (environment_id, day, river_id, status) DO UPDATE SET
      run_count = s.run_count + 1,
      units_micro = s.units_micro + EXCLUDED.units_micro,
      total_rows = s.total_rows + EXCLUDED.total_rows,
      total_size = s.total_size + EXCLUDED.total_size,
      max_duration_ms = GREATEST(s.max_duration_ms, EXCLUDED.max_duration_ms),
      last_start_time = GREATEST(s.last_start_time, EXCLUDED.last_start_time);
  END IF;
  RETURN NULL;
END
$$
"""

_COLUMNS = [c.strip() for c in COUNTED.split(",")]
_CHANGED = "({}) IS DISTINCT FROM ({})".format(
    ", ".join(f"OLD.{c}" for c in _COLUMNS), ", ".join(f"NEW.{c}" for c in _COLUMNS)
)

POSTGRES_TRIGGERS = [
    "CREATE TRIGGER runs_daily_stats_insert_delete AFTER INSERT OR DELETE ON runs"
    " FOR EACH ROW EXECUTE FUNCTION run_daily_stats_apply()",
    f"CREATE TRIGGER runs_daily_stats_update AFTER UPDATE OF {COUNTED} ON runs FOR EACH ROW"
    f" WHEN ({_CHANGED}) EXECUTE FUNCTION run_daily_stats_apply()",
]

_SQLITE_KEY = (
    "environment_id = {r}.environment_id AND day = substr({r}.start_time, 1, 10)"
    " AND river_id = {r}.river_id AND status = {r}.status"
)

_SQLITE_SUBTRACT = f"""
  UPDATE run_daily_stats SET
    run_count = run_count - 1,
    units_micro = units_micro - CAST(ROUND(OLD.units * 1000000) AS INTEGER),
    total_rows = total_rows - OLD.total_rows,
    total_size = total_size - OLD.total_size
  WHERE {_SQLITE_KEY.format(r="OLD")};
  DELETE FROM run_daily_stats WHERE {_SQLITE_KEY.format(r="OLD")} AND run_count = 0;
  UPDATE run_daily_stats SET
    max_duration_ms = (SELECT max(r.duration_ms) FROM runs r
      WHERE r.river_id = OLD.river_id AND r.start_time >= substr(OLD.start_time, 1, 10)
        AND r.start_time < date(substr(OLD.start_time, 1, 10), '+1 day')
        AND r.environment_id = OLD.environment_id AND r.status = OLD.status),
    last_start_time = (SELECT COALESCE(max(r.start_time), run_daily_stats.last_start_time)
      FROM runs r
      WHERE r.river_id = OLD.river_id AND r.start_time >= substr(OLD.start_time, 1, 10)
        AND r.start_time < date(substr(OLD.start_time, 1, 10), '+1 day')
        AND r.environment_id = OLD.environment_id AND r.status = OLD.status)
  WHERE {_SQLITE_KEY.format(r="OLD")}
    AND (max_duration_ms <= OLD.duration_ms OR last_start_time <= OLD.start_time);
"""

_SQLITE_ADD = f"""
  INSERT OR IGNORE INTO run_daily_stats (environment_id, day, river_id, status, run_count,
    units_micro, total_rows, total_size, max_duration_ms, last_start_time)
  VALUES (NEW.environment_id, substr(NEW.start_time, 1, 10), NEW.river_id, NEW.status,
    0, 0, 0, 0, NULL, NEW.start_time);
  UPDATE run_daily_stats SET
    run_count = run_count + 1,
    units_micro = units_micro + CAST(ROUND(NEW.units * 1000000) AS INTEGER),
    total_rows = total_rows + NEW.total_rows,
    total_size = total_size + NEW.total_size,
    max_duration_ms = CASE WHEN max_duration_ms IS NULL OR NEW.duration_ms > max_duration_ms
      THEN NEW.duration_ms ELSE max_duration_ms END,
    last_start_time = CASE WHEN NEW.start_time > last_start_time
      THEN NEW.start_time ELSE last_start_time END
  WHERE {_SQLITE_KEY.format(r="NEW")};
"""

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER runs_daily_stats_insert AFTER INSERT ON runs BEGIN {_SQLITE_ADD} END",
    f"CREATE TRIGGER runs_daily_stats_delete AFTER DELETE ON runs BEGIN {_SQLITE_SUBTRACT} END",
    f"CREATE TRIGGER runs_daily_stats_update AFTER UPDATE OF {COUNTED} ON runs WHEN "
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _COLUMNS)
    + f" BEGIN {_SQLITE_SUBTRACT} {_SQLITE_ADD} END",
]

_DAY = {
    "sqlite": "substr(start_time, 1, 10)",
    "postgresql": "CAST(start_time AT TIME ZONE 'UTC' AS DATE)",
}
_MICRO = {"sqlite": "INTEGER", "postgresql": "BIGINT"}


def backfill_sql(dialect: str) -> str:
    """The backfill: one INSERT ... SELECT ... GROUP BY over every run."""
    day = _DAY[dialect]
    return (
        "INSERT INTO run_daily_stats (environment_id, day, river_id, status, run_count,"
        " units_micro, total_rows, total_size, max_duration_ms, last_start_time)"
        f" SELECT environment_id, {day}, river_id, status, COUNT(*),"
        f" SUM(CAST(ROUND(units * 1000000) AS {_MICRO[dialect]})), SUM(total_rows),"
        " SUM(total_size), MAX(duration_ms), MAX(start_time)"
        f" FROM runs GROUP BY environment_id, {day}, river_id, status"
    )


def upgrade() -> None:
    op.create_table(
        "run_daily_stats",
        sa.Column("environment_id", sa.String(length=24), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("river_id", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("run_count", sa.BigInteger(), nullable=False),
        sa.Column("units_micro", sa.BigInteger(), nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("max_duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_start_time", sa.DateTime(timezone=True), nullable=False),
        # whole days of a window are one range of the key, read without the table:
        # PostgreSQL INCLUDEs the summed columns (index-only scan), SQLite is WITHOUT ROWID
        sa.PrimaryKeyConstraint(
            "environment_id",
            "day",
            "river_id",
            "status",
            name=op.f("pk_run_daily_stats"),
            postgresql_include=list(SUMMED),
        ),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_run_daily_stats_river_day", "run_daily_stats", ["river_id", "day"])
    dialect = op.get_bind().dialect.name
    op.execute(backfill_sql(dialect))
    if dialect == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS runs_daily_stats_update ON runs")
        op.execute("DROP TRIGGER IF EXISTS runs_daily_stats_insert_delete ON runs")
        op.execute("DROP FUNCTION IF EXISTS run_daily_stats_apply()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS runs_daily_stats_{name}")
    op.drop_index("ix_run_daily_stats_river_day", table_name="run_daily_stats")
    op.drop_table("run_daily_stats")
