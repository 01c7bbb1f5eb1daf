"""Pin the target table names of existing file-source rivers.

Why: a file source's table used to land under the file's whole name (``orders.csv``); new
rivers now get the name without extension and compression suffix (``orders``, see
``connectors/files/naming.py``). A river saved before the change must keep writing into the
table it has been filling (and keep its incremental state, which is keyed by the target
name), so every selected file table without an explicit ``details.target_table`` gets its old
default written into the definition. The file-source connection types are listed here as
they were at this revision (migrations never import application code).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 14:00:00.000000
"""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

FILE_TYPES = ("local_files", "s3")


def _pinned(definition: dict[str, Any], old_types: dict[str, str]) -> dict[str, Any] | None:
    props = definition.get("properties") or {}
    source_id = (props.get("source") or {}).get("connection_id")
    if old_types.get(str(source_id)) not in FILE_TYPES:
        return None
    changed = copy.deepcopy(definition)
    touched = False
    for schema in changed.get("properties", {}).get("schemas") or []:
        for table in schema.get("tables") or []:
            if table.get("query") or not table.get("name"):
                continue
            details = table.setdefault("details", {})
            if not details.get("target_table"):
                details["target_table"] = str(table["name"]).rsplit("/", 1)[-1]
                touched = True
    return changed if touched else None


def upgrade() -> None:
    bind = op.get_bind()
    connections = sa.table(
        "connections", sa.column("id", sa.String), sa.column("connection_type", sa.String)
    )
    rivers = sa.table(
        "rivers",
        sa.column("id", sa.String),
        sa.column("river_type", sa.String),
        sa.column("definition", sa.JSON),
    )
    types = {
        str(row.id): str(row.connection_type)
        for row in bind.execute(
            sa.select(connections.c.id, connections.c.connection_type).where(
                connections.c.connection_type.in_(FILE_TYPES)
            )
        )
    }
    if not types:
        return
    rows = bind.execute(
        sa.select(rivers.c.id, rivers.c.definition).where(rivers.c.river_type == "src_to_trgt")
    ).all()
    for row in rows:
        pinned = _pinned(row.definition or {}, types)
        if pinned is not None:
            bind.execute(rivers.update().where(rivers.c.id == row.id).values(definition=pinned))


def downgrade() -> None:
    """Nothing to undo: an explicit target table name means the same under the old rule."""
