"""Connections, environment variables, river groups, rivers, river versions and references.

Why: data flows are defined and stored before anything can run them; every change of a river
keeps a full version so it can be inspected and restored, and the references table guards
connections in use and lets logic rivers be checked for cycles.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _owner_columns(table: str) -> list[sa.Column[str] | sa.ForeignKeyConstraint]:
    return [
        sa.Column("account_id", sa.String(length=24), nullable=False),
        sa.Column("environment_id", sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f(f"fk_{table}_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f(f"fk_{table}_environment_id_environments"),
            ondelete="CASCADE",
        ),
    ]


def _owner_indexes(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_account_id"), ["account_id"], unique=False)
        batch_op.create_index(
            batch_op.f(f"ix_{table}_environment_id"), ["environment_id"], unique=False
        )


def upgrade() -> None:
    op.create_table(
        "connections",
        *_owner_columns("connections"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("connection_type", sa.String(length=64), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=24), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("environment_id", "name", name=op.f("uq_connections_environment_id")),
    )
    _owner_indexes("connections")

    op.create_table(
        "environment_variables",
        *_owner_columns("environment_variables"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("is_private", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_environment_variables")),
        sa.UniqueConstraint(
            "environment_id", "name", name=op.f("uq_environment_variables_environment_id")
        ),
    )
    _owner_indexes("environment_variables")

    op.create_table(
        "river_groups",
        *_owner_columns("river_groups"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_river_groups")),
        sa.UniqueConstraint("environment_id", "name", name=op.f("uq_river_groups_environment_id")),
    )
    _owner_indexes("river_groups")

    op.create_table(
        "rivers",
        *_owner_columns("rivers"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("river_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("group_id", sa.String(length=24), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("cron_expression", sa.String(length=120), nullable=True),
        sa.Column("schedule_enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=24), nullable=True),
        sa.Column("updated_by", sa.String(length=24), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["river_groups.id"], name=op.f("fk_rivers_group_id_river_groups")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rivers")),
        sa.UniqueConstraint("environment_id", "name", name=op.f("uq_rivers_environment_id")),
    )
    _owner_indexes("rivers")
    with op.batch_alter_table("rivers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rivers_group_id"), ["group_id"], unique=False)

    op.create_table(
        "river_versions",
        sa.Column("river_id", sa.String(length=24), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=24), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["river_id"],
            ["rivers.id"],
            name=op.f("fk_river_versions_river_id_rivers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_river_versions")),
        sa.UniqueConstraint("river_id", "version", name=op.f("uq_river_versions_river_id")),
    )
    with op.batch_alter_table("river_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_river_versions_river_id"), ["river_id"], unique=False)

    op.create_table(
        "river_references",
        sa.Column("river_id", sa.String(length=24), nullable=False),
        sa.Column("ref_type", sa.String(length=20), nullable=False),
        sa.Column("ref_id", sa.String(length=24), nullable=False),
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["river_id"],
            ["rivers.id"],
            name=op.f("fk_river_references_river_id_rivers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_river_references")),
    )
    with op.batch_alter_table("river_references", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_river_references_river_id"), ["river_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_river_references_ref_id"), ["ref_id"], unique=False)


def downgrade() -> None:
    op.drop_table("river_references")
    op.drop_table("river_versions")
    op.drop_table("rivers")
    for table in ("river_groups", "environment_variables", "connections"):
        op.drop_table(table)
