"""Leases: one scheduler of a cluster leads at a time; run groups carry their trace context.

Why: several ``headwater scheduler`` processes may run for availability; the one holding the
``scheduler`` lease scans for due rivers, the others wait and take the lease over once it
expires (its holder died). See ``scheduler/lease.py``. A run group keeps the W3C
``traceparent`` of the trigger that started it, so the worker that runs it (often another
process) continues the same OpenTelemetry trace (``services/tracing.py``).

Revision ID: 0022
Revises: 0019
Create Date: 2026-12-04 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )
    with op.batch_alter_table("run_groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trace_context", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_groups", schema=None) as batch_op:
        batch_op.drop_column("trace_context")
    op.drop_table("leases")
