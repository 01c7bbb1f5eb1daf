"""E-mail deliveries of river notifications.

Why: rivers have always stored ``notifications.on_failure`` / ``on_success`` e-mail
recipients, but nothing sent them. The webhook dispatcher now composes one e-mail per finished
run group that has recipients and sends it over SMTP; this table queues it so a message
survives a restart, is claimed by one dispatcher only (conditional UPDATE on ``attempts``) and
is retried with backoff until it is sent or given up with its last error.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_deliveries",
        sa.Column("account_id", sa.String(length=24), nullable=False),
        sa.Column("environment_id", sa.String(length=24), nullable=False),
        sa.Column("run_group_id", sa.String(length=32), nullable=False),
        sa.Column("river_id", sa.String(length=24), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_email_deliveries_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_email_deliveries_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
    )
    with op.batch_alter_table("email_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_deliveries_account_id"), ["account_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_email_deliveries_environment_id"), ["environment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_email_deliveries_run_group_id"), ["run_group_id"], unique=True
        )
        batch_op.create_index(
            "ix_email_deliveries_due", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("email_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_email_deliveries_due")
        batch_op.drop_index(batch_op.f("ix_email_deliveries_run_group_id"))
        batch_op.drop_index(batch_op.f("ix_email_deliveries_environment_id"))
        batch_op.drop_index(batch_op.f("ix_email_deliveries_account_id"))
    op.drop_table("email_deliveries")
