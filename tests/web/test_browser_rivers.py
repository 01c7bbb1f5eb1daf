"""In Chromium: a connection made in the console, a river run from the console and watched
live until it succeeds, then the Activities drill-down from the window to the run's log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests._services import require_service
from tests.conftest import create_pg_database, drop_pg_database
from tests.live import Api, LiveServer, checksum, fill_table
from tests.web.conftest import Shots, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
ROWS = 500


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """A throwaway source database with a small table, and an empty target database."""
    require_service("postgres")
    source = create_pg_database("hw_console_src")
    target = create_pg_database("hw_console_dst")
    fill_table(source, "events", ROWS)
    try:
        yield source, target
    finally:
        drop_pg_database(source)
        drop_pg_database(target)


def go(page: Any, label: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()


def _name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_connection_river_run_and_activities(
    page: Any, console_server: LiveServer, databases: tuple[str, str]
) -> None:
    source_url, target_url = databases
    shots = Shots("rivers")
    sign_in(page)

    # Connections: a form generated from the PostgreSQL type, then a real test.
    go(page, "Connections")
    page.get_by_role("link", name="New connection").click()
    page.get_by_label("Type", exact=True).select_option("postgres")
    page.get_by_role("button", name="Continue").click()
    assert page.get_by_label("Password").get_attribute("type") == "password"
    page.get_by_label("Connection name").fill("source db")
    page.get_by_label("Host").fill("127.0.0.1")
    page.get_by_label("Database").fill(_name(source_url))
    page.get_by_label("Username").fill("postgres")
    shots.take(page, "01-new-connection")
    page.get_by_role("button", name="Create connection").click()
    page.wait_for_selector("text=The connection was created")
    row = page.locator("tr", has_text="source db")
    source_id = row.get_attribute("data-connection-id")
    row.get_by_role("button", name="Test connection source db").click()
    page.wait_for_selector("#test-result")
    assert "Connection test succeeded" in page.locator("#test-result").inner_text()
    shots.take(page, "02-connection-tested")

    # The river itself comes through the API, with a token, as a script would make it.
    minted = console_server.mint_token("river:write", "connection:edit", "river:list")
    api = Api(console_server.url, minted)
    try:
        target_id = api.pg_connection("target db", _name(target_url))
        river_id = api.copy_river("events copy", str(source_id), target_id, {"name": "events"})
    finally:
        api.close()

    # A connection in use cannot be deleted; the page says which river uses it.
    page.reload()
    page.locator("tr", has_text="source db").get_by_role(
        "button", name="Delete connection source db"
    ).click()
    page.locator("dialog[open]").get_by_role("button", name="Delete").click()
    error = page.locator("#connections-error")
    assert "events copy" in error.inner_text()
    shots.take(page, "03-connection-in-use")

    # Data flows: the list, the detail page whose URL carries the ids, Run, live status.
    go(page, "Data flows")
    page.get_by_label("Search").fill("events")
    page.get_by_role("button", name="Filter").click()
    shots.take(page, "04-rivers")
    page.get_by_role("link", name="events copy").click()
    ids = re.search(
        r"/console/accounts/([0-9a-f]{24})/environments/([0-9a-f]{24})/rivers/([0-9a-f]{24})$",
        page.url,
    )
    assert ids is not None and ids.group(1) == minted["account_id"]
    assert ids.group(2) == minted["environment_id"] and ids.group(3) == river_id
    assert page.locator("#river-id").inner_text() == river_id
    assert '"name": "events copy"' in page.locator("#definition").inner_text()
    shots.take(page, "05-river")
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_url(re.compile(rf"/rivers/{river_id}/runs/[0-9a-z]+$"))
    page.wait_for_selector("#run-live[data-final='true']", timeout=90_000)
    status = page.locator("#group-status").inner_text()
    assert status == "succeeded", (
        f"run ended {status}:\n{page.locator('#run-tables').inner_text()}\n"
        f"{page.locator('#run-log').inner_text()}\n{console_server.log_path.read_text()[-3000:]}"
    )
    table_row = page.locator("#run-tables tbody tr").first
    assert table_row.locator(".c-rows").inner_text() == str(ROWS)
    assert page.locator("#run-log").inner_text().strip() != ""
    assert page.locator("#live-hint").inner_text() == "This run has ended."
    shots.take(page, "06-run")
    assert checksum(target_url, "events") == checksum(source_url, "events")

    # Activities: cards and chart, then river → run group → run → log.
    go(page, "Activities")
    assert page.locator("#stat-succeeded").inner_text() == "1"
    assert page.locator("svg.chart").is_visible()
    shots.take(page, "07-activities")
    page.locator("#activity-rivers").get_by_role("link", name="events copy").click()
    shots.take(page, "08-activity-river")
    page.locator("#run-groups a").first.click()
    shots.take(page, "09-activity-group")
    page.locator("#group-runs").get_by_role("link", name="Log").click()
    assert page.locator("#run-log").inner_text().strip() != ""
    assert page.locator("#group-status").inner_text() == "succeeded"
