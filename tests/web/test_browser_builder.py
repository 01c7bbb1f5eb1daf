"""In Chromium: the data-flow builder end to end. A PostgreSQL source with three tables and the
built-in DuckDB warehouse as target; two tables picked, one merged on a key, one incremental on
a timestamp; a daily schedule with its next five fire times; Save, Run now, the live page to
``succeeded`` and the rows in DuckDB; then Edit (with the diff) and Duplicate."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database
from tests.live import Api, LiveServer, libpq
from tests.web.conftest import Shots, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def source_db() -> Iterator[str]:
    require_service("postgres")
    url = create_pg_database("hw_builder_src")
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL)")
        conn.execute(
            "INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 40) g"
        )
        conn.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric(10,2),"
            " updated_at timestamp NOT NULL)"
        )
        conn.execute(
            "INSERT INTO orders SELECT g, g % 40 + 1, g * 1.25,"
            " timestamp '2026-01-01' + g * interval '1 hour' FROM generate_series(1, 300) g"
        )
        conn.execute("CREATE TABLE products (id int PRIMARY KEY, title text)")
        conn.execute("INSERT INTO products VALUES (1, 'kayak'), (2, 'paddle')")
        conn.execute("ANALYZE")
    try:
        yield url
    finally:
        drop_pg_database(url)


def _warehouse_rows(server: LiveServer, query: str) -> list[tuple[Any, ...]]:
    import duckdb

    path = server.data_dir / "warehouse" / "warehouse.duckdb"
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(query).fetchall()


def _row(page: Any, table: str) -> Any:
    return page.locator(f"#tables > tbody > tr[data-table='{table}']")


def test_builder_new_run_edit_duplicate(
    fresh_page: Any, fresh_server: LiveServer, source_db: str
) -> None:
    page, console_server = fresh_page, fresh_server
    shots = Shots("builder")
    minted = console_server.mint_token("connection:edit", "river:list")
    api = Api(console_server.url, minted)
    try:
        api.pg_connection("shop db", source_db.rsplit("/", 1)[1])
    finally:
        api.close()
    sign_in(page)
    # The connection's edit page (the password only as "set") and what it sees.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="Edit connection shop db").click()
    assert page.locator("#p-password-state").inner_text() == "set"
    assert page.get_by_label("Password", exact=False).first.input_value() == ""
    shots.take(page, "00-connection-edit")
    page.get_by_role("link", name="Show tables").click()
    assert page.locator("#discovered > tbody > tr").count() == 3, page.locator("main").inner_text()
    shots.take(page, "00-connection-tables")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Data flows").click()
    page.get_by_role("link", name="New data flow").click()
    page.get_by_label("Data flow name").fill("shop to warehouse")
    page.get_by_label("Source connection").select_option(label="shop db (postgres)")
    page.get_by_label("Target connection").select_option(label="warehouse (duckdb)")
    page.get_by_role("button", name="Show tables").click()
    page.wait_for_selector("#tables")
    assert page.locator("#tables > tbody > tr").count() == 3
    assert _row(page, "orders").locator(".rows-estimate").inner_text() == "~300 rows"
    shots.take(page, "01-tables")

    # Search narrows the list; select none, then pick two of the three tables.
    page.get_by_label("Search tables").fill("prod")
    assert not _row(page, "orders").is_visible() and _row(page, "products").is_visible()
    page.get_by_label("Search tables").fill("")
    page.get_by_role("button", name="Select none").click()
    page.get_by_label("Select table customers").check()
    page.get_by_label("Select table orders").check()
    assert page.locator("#selected-count").inner_text() == "2 of 3 tables selected"
    # The column types the target will get are shown.
    _row(page, "orders").locator("summary").click()
    assert "TIMESTAMP" in _row(page, "orders").locator("table.cols").inner_text().upper()

    # Merge without a key first: the API's own message appears next to the keys.
    page.get_by_label("Load method for customers").select_option("merge")
    page.get_by_role("button", name="Save").click()
    error = page.locator("#e-t0_keys")
    assert "key" in error.inner_text().lower()
    assert page.get_by_label("Merge key columns for customers").get_attribute("aria-invalid")
    shots.take(page, "02-error-beside-field")
    page.get_by_label("Merge key columns for customers").select_option(["id"])
    page.get_by_label("Extract method for orders").select_option("incremental")
    page.get_by_label("Cursor column for orders").select_option("updated_at")
    page.get_by_label("Load method for orders").select_option("append")

    # Daily schedule: the next five fire times appear before saving.
    page.get_by_label("Schedule preset").select_option(label="Daily at 06:00")
    assert page.get_by_label("Cron expression (empty: not scheduled)").input_value() == (
        "0 6 * * *"
    )
    page.locator("#fires li").nth(4).wait_for()  # (no wait_for_function: the CSP forbids eval)
    assert page.locator("#fires li").count() == 5
    assert "06:00" in page.locator("#fires li").first.inner_text()
    page.get_by_role("button", name="Review").click()
    assert '"incremental_field": "updated_at"' in page.locator("#review").inner_text()
    shots.take(page, "03-review")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=The data flow was saved")
    river_id = page.locator("#river-id").inner_text()
    shots.take(page, "04-saved")

    # Run now, watched live to the end, then the rows in DuckDB.
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(rf"/rivers/{river_id}/runs/[0-9a-z]+$"))
    page.wait_for_selector("#run-live[data-final='true']", timeout=90_000)
    status = page.locator("#group-status").inner_text()
    assert status == "succeeded", page.locator("#run-log").inner_text()
    assert page.locator("#group-rows").inner_text() == "340"
    assert page.get_by_role("button", name="Run again").is_visible()
    assert page.locator("#group-throughput").inner_text().endswith("rows/s")
    shots.take(page, "05-run")
    assert _warehouse_rows(console_server, "SELECT count(*), sum(id) FROM customers") == [(40, 820)]
    assert _warehouse_rows(
        console_server, "SELECT count(*), max(updated_at)::varchar, sum(amount)::double FROM orders"
    ) == [(300, "2026-01-13 12:00:00", 56437.5)]

    # Edit: rename the orders target; Review shows the diff against the saved version.
    page.goto(page.url.rsplit("/runs/", 1)[0])
    assert page.locator("#runs-chart g.run").count() == 1  # the last runs, as a chart
    assert "340 rows" in page.locator("#runs-chart g.run title").text_content()
    shots.take(page, "05b-river-runs")
    page.get_by_role("link", name="Edit").click()
    assert page.get_by_label("Select table orders").is_checked()
    assert not page.get_by_label("Select table products").is_checked()
    page.get_by_label("Target table for orders").fill("orders_copy")
    page.get_by_role("button", name="Review changes").click()
    diff = page.locator("#diff").inner_text()
    assert "+" in diff and '"target_table": "orders_copy"' in diff
    shots.take(page, "06-diff")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Your changes were saved")
    assert "2 ·" in page.locator(".facts").inner_text()

    # Duplicate: the same form, prefilled, saved as a new data flow.
    page.get_by_role("link", name="Duplicate").click()
    assert page.get_by_label("Data flow name").input_value() == "Copy of shop to warehouse"
    assert page.get_by_label("Merge key columns for customers").evaluate(
        "el => Array.from(el.selectedOptions).map(o => o.value)"
    ) == ["id"]
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=The data flow was saved")
    assert page.locator("#river-id").inner_text() != river_id


def test_logic_step_editor(fresh_page: Any, fresh_server: LiveServer) -> None:
    """Runs after the test above on the same server: it uses its connection and data flow."""
    page = fresh_page
    shots = Shots("logic")
    sign_in(page)
    page.get_by_role("link", name="New logic flow").click()
    page.get_by_label("Data flow name").fill("nightly shop")
    page.get_by_label("Step 1 type").select_option(label="Run a data flow")
    assert page.get_by_label("Step 1 data flow to run").is_visible()
    assert not page.get_by_label("Step 1 SQL").is_visible()  # only the chosen type's fields
    page.get_by_label("Step 1 data flow to run").select_option(
        label="shop to warehouse (src_to_trgt)"
    )
    page.get_by_role("button", name="Update").click()
    page.get_by_label("Step 2 type").select_option(label="SQL")
    page.get_by_label("Step 2 connection").select_option(label="shop db")
    page.get_by_label("Step 2 SQL").fill("select count(*) from orders")
    page.get_by_label("Step 2 result into variable").fill("orders")
    page.get_by_role("button", name="Move step 2 up").click()  # the SQL step first
    shots.take(page, "01-steps")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=The data flow was saved")
    definition = page.locator("#definition").inner_text()
    assert definition.index('"type": "sql"') < definition.index('"type": "river"')
    page.get_by_role("link", name="Edit").click()
    assert page.get_by_label("Step 1 SQL").input_value() == "select count(*) from orders"


def test_environment_switcher_and_copy(fresh_page: Any, fresh_server: LiveServer) -> None:
    """After the tests above: a second environment appears in the header; a copy there is
    refused until it has a connection of the same name."""
    page = fresh_page
    shots = Shots("environments")
    minted = fresh_server.mint_token("environment:edit")
    api = Api(fresh_server.url, minted)
    try:
        made = api.client.post(
            f"/v1/accounts/{minted['account_id']}/environments", json={"name": "prod"}
        )
        assert made.status_code == 201, made.text
    finally:
        api.close()
    sign_in(page)
    page.get_by_role("link", name="shop to warehouse", exact=True).click()
    assert page.get_by_label("Environment", exact=True).first.is_visible()
    page.locator("#copy-river summary").click()
    page.get_by_role("button", name="Copy").click()
    assert "no connection 'shop db'" in page.locator(".error").inner_text()
    shots.take(page, "01-copy-refused")
    page.locator("#env-switch").select_option(label="prod")
    page.get_by_role("button", name="Go").click()
    page.wait_for_selector("#first-data")
    assert page.locator("#env-switch").input_value() == made.json()["environment_id"]
