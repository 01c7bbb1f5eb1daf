"""Snowflake loads that fail or are killed midway: the target table and the cursor state stay
exactly as they were, and the next run loads every row once (fakesnow server, real driver)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from headwater.connectors.errors import JobFailed
from tests.connectors import snowflake_kit as kit
from tests.connectors.conformance import copy, pg_checksum, pg_exec
from tests.connectors.snowflake_kit import KIND, add_inc_rows, sf_rows

pytestmark = pytest.mark.postgres

# the kit's module-scoped fixtures: a fakesnow server, a database on it, the PostgreSQL hub
hub, port, registry, sf = kit.hub, kit.port, kit.registry, kit.sf


def inc_copy(hub, sf, registry, table, **kw):
    return copy(
        "postgres",
        hub,
        kw.pop("target", KIND),
        {**sf, **kw.pop("extra", {})},
        table,
        table,
        registry=registry,
        extract_method="incremental",
        cursor_column="at",
        cursor_type="timestamp",
        load_method=kw.pop("load_method", "append"),
        **kw,
    )


def state_rows(sf: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sf_rows(
        sf,
        'SELECT "STATE_KEY", "CURSOR_VALUE", "LOAD_ID" FROM hw_data."_HEADWATER_STATE" '
        'ORDER BY "STATE_KEY"',
    )


def sf_checksum(sf: dict[str, Any], table: str) -> list[tuple[Any, ...]]:
    return sf_rows(sf, f"SELECT COUNT(*), COUNT(DISTINCT id), SUM(id) FROM hw_data.{table}")


@pytest.mark.slow
def test_failures_mid_load_leave_table_and_state_exactly_as_before(hub, sf, registry):
    pg_exec(
        hub, "DROP TABLE IF EXISTS inc_f", "CREATE TABLE inc_f (id int, at timestamptz, v text)"
    )
    add_inc_rows(hub, "inc_f", 1, 3000)
    first = inc_copy(hub, sf, registry, "inc_f")
    assert first.rows == 3000
    next_id = 3001
    for fail_at in ("write", "staged", "published"):
        add_inc_rows(hub, "inc_f", next_id, next_id + 999)
        next_id += 1000
        before, before_state = sf_checksum(sf, "inc_f"), state_rows(sf)
        with pytest.raises(JobFailed, match="injected"):
            inc_copy(
                hub, sf, registry, "inc_f", target="faulty_snowflake", extra={"fail_at": fail_at}
            )
        assert sf_checksum(sf, "inc_f") == before, fail_at
        assert state_rows(sf) == before_state, fail_at
    # a failed first load of a new table leaves no table behind
    with pytest.raises(JobFailed, match="injected"):
        copy(
            "postgres",
            hub,
            "faulty_snowflake",
            {**sf, "fail_at": "published"},
            "inc_f",
            "never_created",
            registry=registry,
        )
    assert sf_rows(sf, "SHOW TABLES LIKE 'NEVER_CREATED' IN SCHEMA hw_data") == []
    final = inc_copy(hub, sf, registry, "inc_f")
    assert final.rows == 3000
    copy(KIND, sf, "postgres", hub, "inc_f", "inc_f_back")
    assert pg_checksum(hub, "inc_f_back") == pg_checksum(hub, "inc_f")


KILLED_CHILD = """
import sys
sys.path.insert(0, {root!r})
from tests.connectors.conformance import copy
from tests.connectors.snowflake_faulty import faulty_registry
copy("postgres", {hub!r}, "faulty_snowflake", {target!r}, "inc_k", "inc_k",
     registry=faulty_registry(), extract_method="incremental", cursor_column="at",
     cursor_type="timestamp", load_method="append")
"""


@pytest.mark.slow
def test_a_process_killed_after_staging_changes_nothing_and_the_rerun_is_exact(hub, sf, registry):
    pg_exec(
        hub, "DROP TABLE IF EXISTS inc_k", "CREATE TABLE inc_k (id int, at timestamptz, v text)"
    )
    add_inc_rows(hub, "inc_k", 1, 500)
    assert inc_copy(hub, sf, registry, "inc_k").rows == 500
    add_inc_rows(hub, "inc_k", 501, 1200)
    before, before_state = sf_checksum(sf, "inc_k"), state_rows(sf)
    root = str(Path(__file__).resolve().parents[2])
    script = KILLED_CHILD.format(root=root, hub=hub, target={**sf, "fail_at": "kill:staged"})
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert child.returncode == -9, child.stderr.decode()[-2000:]
    assert sf_checksum(sf, "inc_k") == before and state_rows(sf) == before_state
    orphans = sf_rows(sf, "SHOW TABLES LIKE '_HW_STAGE_%' IN SCHEMA hw_data")
    assert orphans, "the killed load should have left its staging table"
    rerun = inc_copy(hub, sf, registry, "inc_k")
    assert rerun.rows == 700
    assert sf_checksum(sf, "inc_k") == [(1200, 1200, 1200 * 1201 // 2)]
    assert sf_rows(sf, "SHOW TABLES LIKE '_HW_STAGE_%' IN SCHEMA hw_data") == []
