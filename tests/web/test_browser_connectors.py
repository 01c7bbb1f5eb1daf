"""In Chromium: an instance admin starts a connector install and the page follows it live.

The server has installs on and an empty wheelhouse (no network), so the install fails; what is
checked is that the status, pip's lines and the error arrive by polling, without a reload.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import LiveServer, embedded_up
from tests.web.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Shots, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def install_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("connectors-console")
    wheels = workdir / "wheelhouse"
    wheels.mkdir()
    with embedded_up(
        workdir,
        HEADWATER_ADMIN_EMAIL=ADMIN_EMAIL,
        HEADWATER_ADMIN_PASSWORD=ADMIN_PASSWORD,
        HEADWATER_CONNECTORS_API_INSTALL="true",
        HEADWATER_CONNECTORS_INDEX_URL=str(wheels),
        HEADWATER_CONNECTORS_DIR=str(workdir / "connectors"),
    ) as server:
        yield server


def test_install_progress_is_followed_without_a_reload(
    browser: Any, install_server: LiveServer
) -> None:
    context = browser.new_context(
        base_url=install_server.url, viewport={"width": 1280, "height": 860}
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Connectors").click()
        page.wait_for_selector("h1:has-text('Connectors')")
        assert page.locator("#no-packages").is_visible()
        page.get_by_label("Requirement").fill("airbyte-source-headwater-nope==0.0.1")
        page.get_by_role("button", name="Install").click()
        page.wait_for_selector("#install-live")
        # Creating the venv alone takes seconds: the page first shows the install running.
        assert page.locator("#install-status").inner_text() == "running"
        page.evaluate("window.hwSamePage = true")
        page.wait_for_selector("#install-status:has-text('failed')", timeout=60_000)
        # The same document: the status arrived by polling, not by a reload.
        assert page.evaluate("window.hwSamePage === true")
        assert "installing airbyte-source-headwater-nope==0.0.1 failed" in (
            page.locator("#install-error").inner_text()
        )
        assert page.locator("#install-log").inner_text().strip()
        assert page.locator("#install-done").is_visible()
        Shots("connectors").take(page, "01-install-failed")
    finally:
        context.close()
