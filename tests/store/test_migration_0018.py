"""Migration 0018 pins the target table names of file-source rivers saved before it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from headwater.store import migrate
from tests.store.revisions import engine_at

ACCOUNT, ENV = "a" * 24, "e" * 24
FILES, PG, FILE_RIVER, PG_RIVER = "f" * 24, "b" * 24, "c" * 24, "d" * 24


@pytest.fixture(params=["sqlite", "postgres"])
def engine_0014(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with engine_at(request.param, tmp_path, "0014", "hw_m0018") as engine:
        yield engine


def _river(connection_id: str, tables: list[dict[str, object]]) -> str:
    return json.dumps(
        {
            "type": "src_to_trgt",
            "properties": {
                "source": {"connection_id": connection_id},
                "target": {"connection_id": connection_id},
                "schemas": [{"name": "", "tables": tables}],
            },
        }
    )


def _insert(engine: Engine) -> None:
    now = "CURRENT_TIMESTAMP"
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO accounts (id, name, plan, created_at) "
                f"VALUES ('{ACCOUNT}', 'a', 'pro', {now})"
            )
        )
        c.execute(
            text(
                "INSERT INTO environments (id, account_id, name, is_default, created_at) "
                f"VALUES ('{ENV}', '{ACCOUNT}', 'default', true, {now})"
            )
        )
        for cid, kind in ((FILES, "local_files"), (PG, "postgres")):
            c.execute(
                text(
                    "INSERT INTO connections (id, account_id, environment_id, name, "
                    "connection_type, properties, secrets, updated_at, created_at) VALUES "
                    f"(:id, '{ACCOUNT}', '{ENV}', :id, :kind, '{{}}', '[]', {now}, {now})"
                ),
                {"id": cid, "kind": kind},
            )
        for rid, cid, tables in (
            (
                FILE_RIVER,
                FILES,
                [
                    {"name": "in/orders.csv.gz"},
                    {"name": "customers.csv", "details": {"target_table": "people"}},
                ],
            ),
            (PG_RIVER, PG, [{"name": "orders.csv"}]),
        ):
            c.execute(
                text(
                    "INSERT INTO rivers (id, account_id, environment_id, name, river_type, "
                    "status, definition, schedule_enabled, version, updated_at, created_at) "
                    f"VALUES (:id, '{ACCOUNT}', '{ENV}', :id, 'src_to_trgt', 'active', :d, "
                    f"false, 1, {now}, {now})"
                ),
                {"id": rid, "d": _river(cid, tables)},
            )


def _tables(engine: Engine, river_id: str) -> list[dict[str, object]]:
    with engine.connect() as c:
        raw = c.execute(text("SELECT definition FROM rivers WHERE id = :id"), {"id": river_id})
        value = raw.scalar_one()
    definition = json.loads(value) if isinstance(value, str) else value
    tables: list[dict[str, object]] = definition["properties"]["schemas"][0]["tables"]
    return tables


def test_file_rivers_keep_their_old_table_names(engine_0014: Engine) -> None:
    _insert(engine_0014)
    migrate.upgrade(engine_0014, "0018")
    files = _tables(engine_0014, FILE_RIVER)
    assert files[0]["details"] == {"target_table": "orders.csv.gz"}
    assert files[1]["details"] == {"target_table": "people"}  # explicit names untouched
    # A database source's table names were never file names: its definition is unchanged.
    assert _tables(engine_0014, PG_RIVER) == [{"name": "orders.csv"}]
