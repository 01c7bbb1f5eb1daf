"""Rivers on a live server for the client and orchestrator tests, loading real PostgreSQL.

``build_world`` creates a source database with two tables, an empty target database, the two
connections, a river that copies both tables (two target tables, so two runs per group) and a
river whose source table does not exist (its runs fail with an ``error_description``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.conftest import create_pg_database, drop_pg_database
from tests.live import Api, LiveServer, fill_table

SCOPES = (
    "me:list",
    "river:list",
    "river:write",
    "river:edit",
    "river:execute",
    "river:delete",
    "connection:list",
    "connection:edit",
    "connection:delete",
    "variables:list",
    "variables:edit",
    "activities:list",
    "token:list",
    "token:edit",
)
ORDERS_ROWS = 40
CUSTOMERS_ROWS = 15
TARGETS = ("orders_copy", "customers_copy")
#: A source query that runs for a while, so a run can be canceled while it runs.
SLOW_QUERY = "SELECT 1 AS id FROM pg_sleep(20)"


@dataclass
class World:
    url: str
    token: str
    account_id: str
    environment_id: str
    source_db: str
    target_db: str
    source_id: str
    target_id: str
    good_river: str  # name
    good_river_id: str
    bad_river: str
    bad_river_id: str
    slow_river: str
    prefix: str

    def env(self) -> dict[str, str]:
        """What the orchestrator scripts read."""
        return {"HEADWATER_TEST_WORLD": json.dumps(self.__dict__)}


def river_body(name: str, source_id: str, target_id: str, tables: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "source_to_target",
        "properties": {
            "source": {"connection_id": source_id},
            "target": {
                "connection_id": target_id,
                "schema_name": "public",
                "loading_method": "overwrite",
            },
            "schemas": [
                {
                    "name": "public",
                    "tables": [
                        {"name": table, "details": {"target_table": f"{table}_copy"}}
                        for table in tables
                    ],
                }
            ],
        },
    }


@contextmanager
def build_world(server: LiveServer, label: str) -> Iterator[World]:
    prefix = f"{label} {uuid.uuid4().hex[:6]}"
    token = server.mint_token(*SCOPES, name=f"{label} token")
    api = Api(server.url, token)
    source = create_pg_database("hw_orch_src")
    target = create_pg_database("hw_orch_dst")
    try:
        fill_table(source, "orders", ORDERS_ROWS)
        fill_table(source, "customers", CUSTOMERS_ROWS)
        source_id = api.pg_connection(f"{prefix} source", source.rsplit("/", 1)[1])
        target_id = api.pg_connection(f"{prefix} target", target.rsplit("/", 1)[1])
        good = f"{prefix} copy"
        bad = f"{prefix} broken"
        good_id = api.call(
            "POST",
            "/rivers",
            201,
            json=river_body(good, source_id, target_id, ["orders", "customers"]),
        )["cross_id"]
        bad_id = api.call(
            "POST", "/rivers", 201, json=river_body(bad, source_id, target_id, ["no_such_table"])
        )["cross_id"]
        slow = f"{prefix} slow"
        slow_body = river_body(slow, source_id, target_id, [])
        slow_body["properties"]["schemas"][0]["tables"] = [
            {"query": SLOW_QUERY, "details": {"target_table": "slow_copy"}}
        ]
        api.call("POST", "/rivers", 201, json=slow_body)
        yield World(
            url=server.url,
            token=token["token"],
            account_id=token["account_id"],
            environment_id=token["environment_id"],
            source_db=source,
            target_db=target,
            source_id=source_id,
            target_id=target_id,
            good_river=good,
            good_river_id=good_id,
            bad_river=bad,
            bad_river_id=bad_id,
            slow_river=slow,
            prefix=prefix,
        )
    finally:
        api.close()
        drop_pg_database(source)
        drop_pg_database(target)
