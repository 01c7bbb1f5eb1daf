"""Run groups, runs and run logs.

Why: every trigger of a river is recorded so runs can be monitored, cancelled, recovered after a
lost worker, and reported by the Activities API (indexes serve its time-window queries).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 08:19:08.680775
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_groups",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=24), nullable=False),
        sa.Column("environment_id", sa.String(length=24), nullable=False),
        sa.Column("river_id", sa.String(length=24), nullable=False),
        sa.Column("river_type", sa.String(length=20), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("parent_run_id", sa.String(length=32), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("in_flight_river_id", sa.String(length=24), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("units", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_groups")),
        sa.UniqueConstraint("in_flight_river_id", name=op.f("uq_run_groups_in_flight_river_id")),
    )
    with op.batch_alter_table("run_groups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_run_groups_env_start", ["environment_id", "start_time"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_run_groups_parent_run_id"), ["parent_run_id"], unique=False
        )
        batch_op.create_index("ix_run_groups_river_start", ["river_id", "start_time"], unique=False)
        batch_op.create_index("ix_run_groups_river_status", ["river_id", "status"], unique=False)
        batch_op.create_index("ix_run_groups_unnotified", ["notified_at", "end_time"], unique=False)

    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("run_group_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=24), nullable=False),
        sa.Column("environment_id", sa.String(length=24), nullable=False),
        sa.Column("river_id", sa.String(length=24), nullable=False),
        sa.Column("sub_river_id", sa.String(length=24), nullable=True),
        sa.Column("source_name", sa.String(length=500), nullable=True),
        sa.Column("target_name", sa.String(length=500), nullable=True),
        sa.Column("task_key", sa.String(length=500), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("error_description", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("units", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_group_id"],
            ["run_groups.id"],
            name=op.f("fk_runs_run_group_id_run_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index("ix_runs_env_start", ["environment_id", "start_time"], unique=False)
        batch_op.create_index("ix_runs_river_start", ["river_id", "start_time"], unique=False)
        batch_op.create_index(batch_op.f("ix_runs_run_group_id"), ["run_group_id"], unique=False)
        batch_op.create_index("ix_runs_status_heartbeat", ["status", "heartbeat_at"], unique=False)

    op.create_table(
        "run_logs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_logs_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_logs")),
    )
    with op.batch_alter_table("run_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_logs_run_id"), ["run_id"], unique=False)

    op.create_table(
        "schedule_states",
        sa.Column("river_id", sa.String(length=24), nullable=False),
        sa.Column("cron_expression", sa.String(length=120), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("river_id", name=op.f("pk_schedule_states")),
    )


def downgrade() -> None:
    op.drop_table("schedule_states")
    with op.batch_alter_table("run_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_logs_run_id"))

    op.drop_table("run_logs")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_status_heartbeat")
        batch_op.drop_index(batch_op.f("ix_runs_run_group_id"))
        batch_op.drop_index("ix_runs_river_start")
        batch_op.drop_index("ix_runs_env_start")

    op.drop_table("runs")
    with op.batch_alter_table("run_groups", schema=None) as batch_op:
        batch_op.drop_index("ix_run_groups_unnotified")
        batch_op.drop_index("ix_run_groups_river_status")
        batch_op.drop_index("ix_run_groups_river_start")
        batch_op.drop_index(batch_op.f("ix_run_groups_parent_run_id"))
        batch_op.drop_index("ix_run_groups_env_start")

    op.drop_table("run_groups")
