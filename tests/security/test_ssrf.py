"""The outbound HTTP guard: development allows everything, production blocks internal ranges."""

from __future__ import annotations

import pytest

from headwater.errors import InvalidInput
from headwater.security.ssrf import BlockedDestination, OutboundPolicy
from headwater.settings import Settings

FAKE_DNS = {
    "api.example.com": ["93.184.216.34"],
    "sneaky.example.com": ["93.184.216.34", "127.0.0.1"],
    "metadata.local": ["169.254.169.254"],
    "intranet": ["10.1.2.3"],
    "v6.example.com": ["::1"],
}


def _resolve(host: str) -> list[str]:
    return FAKE_DNS.get(host, [host])


def _policy(**kw: str) -> OutboundPolicy:
    return OutboundPolicy.from_settings(Settings(**kw))  # type: ignore[arg-type]


def test_development_allows_loopback_but_still_needs_http() -> None:
    policy = _policy(mode="development")
    policy.check("http://127.0.0.1:9000/x", _resolve)
    with pytest.raises(InvalidInput, match="Only http and https"):
        policy.check("file:///etc/passwd", _resolve)
    with pytest.raises(InvalidInput, match="Only http and https"):
        policy.check("gopher://example.com", _resolve)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://[::1]:8080/",
        "http://metadata.local/latest",
        "http://intranet/admin",
        "https://sneaky.example.com/",
        "http://0.0.0.0/",
        "http://v6.example.com/",
    ],
)
def test_production_blocks_internal_destinations(url: str) -> None:
    def resolver(host: str) -> list[str]:
        return ["127.0.0.1"] if host == "localhost" else _resolve(host)

    with pytest.raises(BlockedDestination, match="HEADWATER_OUTBOUND_ALLOWLIST"):
        _policy(mode="production").check(url, resolver)


def test_production_allows_public_and_allow_listed() -> None:
    policy = _policy(mode="production", outbound_allowlist="intranet, 169.254.0.0/16")
    policy.check("https://api.example.com/v1", _resolve)
    policy.check("http://intranet/admin", _resolve)
    policy.check("http://metadata.local/latest", _resolve)
    with pytest.raises(BlockedDestination):
        policy.check("http://127.0.0.1/", _resolve)
