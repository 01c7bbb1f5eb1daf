"""Logic step runs and run variables.

Why: a logic run is a tree of steps (loops, conditions, sub rivers, SQL, actions); recording
each step's status, timing, loop iteration and output lets users see where a run went wrong,
and keeping the variables a run ended with (private values masked) lets them check what a
run decided without re-running it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logic_step_runs",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.String(length=24), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("step_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("iteration_index", sa.Integer(), nullable=True),
        sa.Column("iteration_value", sa.JSON(), nullable=True),
        sa.Column("sub_run_id", sa.String(length=32), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_logic_step_runs_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logic_step_runs")),
    )
    with op.batch_alter_table("logic_step_runs", schema=None) as batch_op:
        batch_op.create_index("ix_logic_step_runs_run_seq", ["run_id", "sequence"], unique=False)

    op.create_table(
        "run_variables",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("private_names", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_variables_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_variables")),
    )


def downgrade() -> None:
    op.drop_table("run_variables")
    with op.batch_alter_table("logic_step_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_logic_step_runs_run_seq")
    op.drop_table("logic_step_runs")
