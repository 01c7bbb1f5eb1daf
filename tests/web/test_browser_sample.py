"""In Chromium, on a fresh ``headwater up``: the empty Data flows page, ``Load the sample data``,
the live run page reaching ``succeeded``, and the result page (rows per table, first rows)."""

from __future__ import annotations

from typing import Any

import pytest

from headwater.services.sample_data import SIZES
from tests.live import LiveServer
from tests.web.conftest import Shots, sign_in

pytestmark = [pytest.mark.slow]


def test_first_data_from_an_empty_install(fresh_page: Any, fresh_server: LiveServer) -> None:
    page = fresh_page
    shots = Shots("sample")
    sign_in(page)
    assert page.locator("#first-data").is_visible()
    shots.take(page, "01-empty")
    page.get_by_role("button", name="Load the sample data").click()
    page.wait_for_url("**/runs/*")
    page.wait_for_selector("#run-live[data-final='true']", timeout=120_000)
    status = page.locator("#group-status").inner_text()
    assert status == "succeeded", page.locator("#run-log").inner_text()
    assert page.locator("#group-rows").inner_text() == str(sum(SIZES.values()))
    shots.take(page, "02-run")
    page.get_by_role("link", name="See the result").click()
    for name, rows in SIZES.items():
        card = page.locator("section.card", has=page.locator(f"h2:has-text('{name}')"))
        assert card.locator(".rows").inner_text() == str(rows)
        assert card.locator("table.preview tbody tr").count() == min(rows, 10)
    assert "customer_id" in page.locator("table.preview").first.inner_text()
    shots.take(page, "03-result")
    files = fresh_server.data_dir / "files" / "sample"
    assert sorted(p.name for p in files.iterdir()) == [
        "customers.parquet",
        "orders.parquet",
        "products.parquet",
    ]
    # Phone width: the pages stay readable (no horizontal scroll of the whole page).
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(page.url.rsplit("/result", 1)[0])
    shots.take(page, "04-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
