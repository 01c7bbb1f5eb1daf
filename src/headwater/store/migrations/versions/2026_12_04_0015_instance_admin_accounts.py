"""Instance admins and disabled accounts: the columns multi-tenant installs need.

Why: an installation can now hold several accounts (tenants), created through
``headwater accounts create`` or ``/v1/instance/accounts``. Someone must be allowed to create,
list and disable them across tenants: ``users.is_instance_admin`` marks those users (the
first admin of the oldest account gets it here, as ``headwater up`` gives it on a fresh
install). ``accounts.disabled_at`` records that an instance admin disabled an account: its
tokens and console logins stop working while it is set.

Plain ALTERs (``recreate="never"``), also on SQLite: batch mode would rebuild ``accounts``
and ``users`` and cascade the drop into every table hanging off them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("is_instance_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    connection = op.get_bind()
    first_admin = connection.execute(
        sa.text(
            "SELECT u.id FROM users u JOIN accounts a ON a.id = u.account_id "
            "WHERE u.role = 'admin' ORDER BY a.created_at, a.id, u.created_at, u.id LIMIT 1"
        )
    ).scalar()
    if first_admin is not None:
        connection.execute(
            sa.text("UPDATE users SET is_instance_admin = :yes WHERE id = :id"),
            {"yes": True, "id": first_admin},
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("is_instance_admin")
    with op.batch_alter_table("accounts", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("disabled_at")
