"""Schedules read in a time zone.

Why: a river's schedule may now name an IANA time zone (``schedulers[0].timezone``) whose wall
clock its cron expression follows, daylight saving time included. The scheduler reads it from
``rivers.schedule_timezone`` beside ``cron_expression``, and ``schedule_states.timezone`` records
the zone its stored next fire time was computed in, so a changed zone is recomputed like a
changed cron. NULL means UTC, which every schedule saved before this revision is.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rivers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("schedule_timezone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("schedule_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schedule_states", schema=None) as batch_op:
        batch_op.drop_column("timezone")
    with op.batch_alter_table("rivers", schema=None) as batch_op:
        batch_op.drop_column("schedule_timezone")
