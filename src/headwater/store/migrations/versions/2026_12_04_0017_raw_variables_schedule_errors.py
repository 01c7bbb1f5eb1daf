"""Raw-SQL environment variables; schedule states that record why a cron cannot fire.

Why: variables referenced in SQL are now quoted as literals; splicing a value into SQL text
verbatim needs an explicit per-variable opt-in, which for environment variables is the new
``environment_variables.is_raw`` flag (river variables keep it inside their definition).
A cron that never fires (31 February) used to break every scheduler tick; the scheduler now
records the failure against that river alone: ``schedule_states.next_fire_at`` may be NULL
(never fires) and ``schedule_states.error`` says why.

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-04 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("environment_variables", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_raw", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("schedule_states", schema=None) as batch_op:
        batch_op.alter_column(
            "next_fire_at", existing_type=sa.DateTime(timezone=True), nullable=True
        )
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM schedule_states WHERE next_fire_at IS NULL")
    with op.batch_alter_table("schedule_states", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.alter_column(
            "next_fire_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
    with op.batch_alter_table("environment_variables", schema=None) as batch_op:
        batch_op.drop_column("is_raw")
