"""The outbound guard is applied where requests leave: actions, the REST source, redirects.

(Webhooks are covered in ``tests/services/test_webhooks_dispatch.py``.) A real HTTP server on
127.0.0.1 stands for an internal service: ``production`` mode must refuse it unless allow-listed,
including when a permitted host redirects there.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from headwater.connectors.rest.client import HttpClient
from headwater.runner.http_request import perform
from headwater.runner.variables import Scope
from headwater.schemas.rivers_actions import ActionProperties
from headwater.security.ssrf import (
    BlockedDestination,
    OutboundPolicy,
    reset_policy,
    set_policy,
)
from headwater.settings import Settings


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/hop"):
            port = self.server.server_address[1]
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{port}/inside")
            self.end_headers()
            return
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        return


@pytest.fixture
def internal() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


def _policy(mode: str, allow: str = "") -> OutboundPolicy:
    settings = Settings(mode=mode, outbound_allowlist=allow)  # type: ignore[arg-type]
    return OutboundPolicy.from_settings(settings)


def _action(url: str) -> ActionProperties:
    return ActionProperties.model_validate({"request": {"method": "GET", "url": url}})


def _perform(url: str, policy: OutboundPolicy) -> int:
    outcome = perform(
        _action(url), Scope({}), cancel=threading.Event(), log=lambda *_: None, policy=policy
    )
    return outcome.status


def test_actions_refuse_loopback_in_production(internal: int) -> None:
    url = f"http://127.0.0.1:{internal}/data"
    assert _perform(url, _policy("development")) == 200
    with pytest.raises(BlockedDestination, match="blocked"):
        _perform(url, _policy("production"))
    assert _perform(url, _policy("production", "127.0.0.0/8")) == 200


def test_actions_refuse_a_redirect_into_a_blocked_range(internal: int) -> None:
    # localhost is allow-listed by name; the redirect goes to 127.0.0.1, which is not.
    policy = _policy("production", "localhost")
    assert _perform(f"http://localhost:{internal}/data", policy) == 200
    with pytest.raises(BlockedDestination):
        _perform(f"http://localhost:{internal}/hop", policy)


def test_link_local_metadata_address_is_refused_in_production() -> None:
    with pytest.raises(BlockedDestination):
        _perform("http://169.254.169.254/latest/meta-data/", _policy("production"))


def test_rest_source_follows_the_policy_of_its_run(internal: int) -> None:
    props = {"base_url": f"http://127.0.0.1:{internal}", "max_retries": 0}
    token = set_policy(_policy("production"))
    try:
        client = HttpClient(props)
        with pytest.raises(BlockedDestination):
            client.request("GET", client.url("/data"))
        client.close()
    finally:
        reset_policy(token)
    token = set_policy(_policy("development"))
    try:
        client = HttpClient(props)
        assert client.request("GET", client.url("/data")).status_code == 200
        client.close()
    finally:
        reset_policy(token)


def test_without_a_run_policy_the_process_settings_apply(
    internal: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEADWATER_MODE", "production")
    client = HttpClient({"base_url": f"http://127.0.0.1:{internal}", "max_retries": 0})
    with pytest.raises(BlockedDestination):
        client.request("GET", client.url("/data"))
    client.close()
