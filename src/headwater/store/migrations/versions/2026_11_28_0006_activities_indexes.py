"""Run durations as a column, and a covering index for the Activities time-window aggregates.

Why: ``activities_statistics`` and the ``activities`` rollup aggregate every run of an
environment in a window (about 80,000 runs for a month at a million runs a year). Computing a
duration from two timestamps per row cost more than the rest of the query on SQLite, so
``runs.duration_ms`` stores it (kept by a flush hook on the model, backfilled here with the
same floored-millisecond arithmetic). With the aggregated columns in the index the database
reads the index only (SQLite: a covering index; PostgreSQL: an index-only scan once the
visibility map is set by (auto)vacuum). Figures: docs/activities.md ("Performance").

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX_COLUMNS = [
    "environment_id",
    "start_time",
    "river_id",
    "status",
    "units",
    "total_rows",
    "total_size",
    "duration_ms",
]

_SQLITE_MS = (
    "(CAST(strftime('%s', substr({c}, 1, 19)) AS INTEGER) * 1000"
    " + CAST(substr({c}, 21, 3) AS INTEGER))"
)
_POSTGRES_MS = "CAST(FLOOR(EXTRACT(EPOCH FROM {c}) * 1000) AS BIGINT)"


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duration_ms", sa.BigInteger(), nullable=True))
    ms = _SQLITE_MS if op.get_bind().dialect.name == "sqlite" else _POSTGRES_MS
    op.execute(
        f"UPDATE runs SET duration_ms = {ms.format(c='end_time')} - {ms.format(c='start_time')} "
        "WHERE end_time IS NOT NULL"
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_env_start_activity", INDEX_COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_env_start_activity")
        batch_op.drop_column("duration_ms")
