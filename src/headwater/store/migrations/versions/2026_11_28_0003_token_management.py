"""Token management: plan-downgrade notice, token deletion details, audit actor user.

Why: a move to the `starter` plan starts a notice period after which a sweeper deletes the
account's tokens (it needs the notice end on the account and an index on `expires_at`); a
deleted token records who deleted it and why (by hand or expired); audit events name the user
behind a token so the trail says who acted, not only with which token.

Every operation is a plain ALTER (``recreate="never"``), also on SQLite (3.35+ drops columns
natively): batch mode would rebuild ``accounts`` by dropping it, and with foreign keys on that
drop cascades into every table hanging off the account.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 10:02:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("plan_notice_ends_at", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("api_tokens", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("deleted_by", sa.String(length=24), nullable=True))
        batch_op.add_column(sa.Column("deletion_reason", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_api_tokens_expires_at", ["expires_at"], unique=False)
    with op.batch_alter_table("audit_events", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("actor_user_id", sa.String(length=24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("actor_user_id")
    with op.batch_alter_table("api_tokens", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_api_tokens_expires_at")
        batch_op.drop_column("deletion_reason")
        batch_op.drop_column("deleted_by")
    with op.batch_alter_table("accounts", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("plan_notice_ends_at")
