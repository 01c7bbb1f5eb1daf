"""In Chromium: the builder's later parts. ``New connection`` as a dialog (Esc closes it, focus
returns, the API's error beside its field, the new connection selected without losing the
form); per-column selection (a deselected merge key refused with the API's message, a
deselected column absent from the DuckDB table after Run now); a schedule in Europe/Paris with
its fire times; the action form (a credential header only as set, Edit with a diff); all from
this origin only, with the keyboard, and at phone width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database
from tests.live import LiveServer, libpq
from tests.web.conftest import Shots, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def source_db() -> Iterator[str]:
    require_service("postgres")
    url = create_pg_database("hw_builder_cols")
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, note text, amount numeric(10,2),"
            " updated_at timestamp NOT NULL)"
        )
        conn.execute(
            "INSERT INTO orders SELECT g, 'private ' || g, g * 1.5,"
            " timestamp '2026-01-01' + g * interval '1 hour' FROM generate_series(1, 50) g"
        )
        conn.execute("CREATE TABLE products (id int PRIMARY KEY, title text)")
    try:
        yield url
    finally:
        drop_pg_database(url)


def _same_origin_only(page: Any, server: LiveServer) -> list[str]:
    """Every URL the page requests that is not on the server itself (a CDN, a font host...)."""
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: None if request.url.startswith(server.url) else foreign.append(request.url),
    )
    return foreign


UNLABELLED = """() => Array.from(document.querySelectorAll(
    "input:not([type=hidden]), select, textarea, button"))
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
    && !el.getAttribute("aria-labelledby") && !(el.tagName === "BUTTON" && el.innerText.trim()))
  .map(el => el.outerHTML.slice(0, 80))"""


def _all_labelled(page: Any) -> None:
    """Every control of the page has an accessible name (a label, aria-label or its text)."""
    assert page.evaluate(UNLABELLED) == []


def _fits_phone(page: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 800})


def test_inline_connection_columns_and_time_zone(
    fresh_page: Any, fresh_server: LiveServer, source_db: str
) -> None:
    page, shots = fresh_page, Shots("builder-more")
    foreign = _same_origin_only(page, fresh_server)
    sign_in(page)
    page.get_by_role("link", name="New data flow").click()
    page.get_by_label("Data flow name").fill("orders, some columns")
    page.get_by_label("Target connection").select_option(label="warehouse (duckdb)")

    # The dialog opens from the keyboard, Esc closes it and focus returns to its button.
    opener = page.get_by_role("button", name="New connection for the source")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New source connection")
    assert dialog.is_visible()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert opener.evaluate("el => el === document.activeElement")

    opener.click()
    dialog.get_by_label("Connection type").select_option(label="PostgreSQL")
    dialog.get_by_label("Connection name").fill("inline shop")
    dialog.get_by_label("Username").fill("postgres")
    _all_labelled(page)
    page.set_viewport_size({"width": 390, "height": 844})  # the dialog fits a phone screen
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.set_viewport_size({"width": 1280, "height": 800})
    dialog.get_by_role("button", name="Create connection").click()
    # The API's message beside the field it concerns (no database given).
    database_error = dialog.locator("#p-database-d.field-error")
    database_error.wait_for()
    assert database_error.inner_text() == "field required"  # what the API says for it
    assert dialog.get_by_label("Database").get_attribute("aria-invalid") == "true"
    shots.take(page, "01-new-connection-error")
    dialog.get_by_label("Database").fill(source_db.rsplit("/", 1)[1])
    dialog.get_by_role("button", name="Create connection").click()
    dialog.wait_for(state="hidden")
    source = page.get_by_label("Source connection", exact=True)
    assert source.locator("option:checked").inner_text() == "inline shop (postgres)"
    assert page.get_by_label("Data flow name").input_value() == "orders, some columns"
    assert "Created inline shop (postgres)" in page.locator("#nc-status").inner_text()

    # Per-column selection: orders without its note column, merged on id, incremental.
    page.get_by_role("button", name="Show tables").click()
    page.wait_for_selector("#tables")
    page.get_by_role("button", name="Select none").click()
    page.get_by_label("Select table orders").check()
    orders = page.locator("#tables > tbody > tr[data-table='orders']")
    orders.locator("summary").click()
    page.get_by_role("button", name="Select no columns of orders").click()
    assert not page.get_by_label("Load column amount of orders").is_checked()
    page.get_by_role("button", name="Select all columns of orders").click()
    note = page.get_by_label("Load column note of orders")
    note.focus()
    page.keyboard.press("Space")  # the keyboard unticks it too
    assert not note.is_checked()
    assert "TIMESTAMP" in orders.locator("table.cols").inner_text().upper()  # the target's type
    page.get_by_label("Load method for orders").select_option("merge")
    page.get_by_label("Merge key columns for orders").select_option(["id"])
    page.get_by_label("Extract method for orders").select_option("incremental")
    page.get_by_label("Cursor column for orders").select_option("updated_at")
    page.get_by_label("Load column id of orders").uncheck()
    _all_labelled(page)
    shots.take(page, "02-columns")
    page.get_by_role("button", name="Save").click()
    key_error = page.locator("#e-t0_keys")
    assert "the merge key column 'id' is not selected" in key_error.inner_text()
    shots.take(page, "03-column-error")
    page.get_by_label("Load column id of orders").check()

    # A schedule read in Paris: the preview says when that is in UTC.
    page.get_by_label("Time zone of the schedule").select_option("Europe/Paris")
    page.get_by_label("Schedule preset").select_option(label="Daily at 06:00")
    page.locator("#fires li").nth(4).wait_for()
    first = page.locator("#fires li").first.inner_text()
    assert re.search(r"06:00 CES?T \(0[45]:00 UTC\)$", first), first
    _fits_phone(page)
    shots.take(page, "04-schedule")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=The data flow was saved")
    assert '"timezone": "Europe/Paris"' in page.locator("#definition").inner_text()
    assert '"is_selected": false' in page.locator("#definition").inner_text()
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-z]+$"))
    page.wait_for_selector("#run-live[data-final='true']", timeout=90_000)
    assert page.locator("#group-status").inner_text() == "succeeded"

    import duckdb

    path = fresh_server.data_dir / "warehouse" / "warehouse.duckdb"
    with duckdb.connect(str(path), read_only=True) as conn:
        columns = [r[0] for r in conn.execute("DESCRIBE orders").fetchall()]
        assert conn.execute("SELECT count(*) FROM orders").fetchone() == (50,)
    assert columns == ["id", "amount", "updated_at"]
    assert foreign == []


def test_action_form_with_a_secret_header(fresh_page: Any, fresh_server: LiveServer) -> None:
    page, shots = fresh_page, Shots("action")
    foreign = _same_origin_only(page, fresh_server)
    sign_in(page)
    page.get_by_role("link", name="New action").click()
    page.get_by_label("Data flow name").fill("start export")
    page.get_by_label("Method").select_option("POST")
    page.get_by_label("URL").fill("https://api.example.com/v1/exports")
    page.get_by_label("Header name").fill("X-Api-Key")
    page.get_by_label("Header value").fill("k-123-secret")
    page.get_by_label("Body type").select_option("json")
    page.get_by_label("Body (JSON", exact=False).fill('{"format": "csv"}')
    page.get_by_label("Variables set from the response", exact=False).fill("export_id=$.id")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=The data flow was saved")
    definition = page.locator("#definition").inner_text()
    assert '"X-Api-Key": "********"' in definition and "k-123-secret" not in page.content()

    page.get_by_role("link", name="Edit").click()
    assert page.locator("#h0-state").inner_text() == "set"
    assert page.get_by_label("Value of header X-Api-Key").input_value() == ""
    page.get_by_label("Header name").fill("Accept")
    page.get_by_label("Header value").fill("application/json")
    page.get_by_label("Body (JSON", exact=False).fill('{"format": "parquet"}')
    page.get_by_role("button", name="Review changes").click()
    diff = page.locator("#diff").inner_text()
    changed = [line for line in diff.splitlines() if line.startswith(("+", "-"))]
    assert [line.split()[-1] for line in changed] == ['"csv"', '"parquet"', '"application/json",']
    assert not [line for line in changed if "X-Api-Key" in line]  # the stored key is kept
    _fits_phone(page)
    _all_labelled(page)
    shots.take(page, "01-edit-diff")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=Your changes were saved")
    assert "k-123-secret" not in page.content()

    # Duplicate: the same form as a new action; the credential header is to be filled in.
    page.get_by_role("link", name="Duplicate").click()
    assert page.get_by_label("Data flow name").input_value() == "Copy of start export"
    assert page.locator("#h0-state").inner_text() == "not set"
    page.get_by_label("Value of header X-Api-Key").fill("k-456-other")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=The data flow was saved")
    assert "Copy of start export" in page.locator("h1").inner_text()
    assert foreign == []
