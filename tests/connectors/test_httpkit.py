"""The HTTP helpers REST sources, action rivers and webhooks share (connectors/httpkit.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from headwater.connectors.httpkit import RETRYABLE_STATUS, retry_after, safe_url, tls_context


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.example.com/v1/items?api_key=SECRET&x=1", "https://api.example.com/v1/items"),
        ("https://user:SECRET@api.example.com/v1#frag", "https://api.example.com/v1"),
        ("http://127.0.0.1:8080/hook/SECRET-TOKEN", "http://127.0.0.1:8080/hook/SECRET-TOKEN"),
    ],
)
def test_safe_url_drops_query_fragment_and_user_info(url: str, shown: str) -> None:
    assert safe_url(url) == shown
    assert safe_url(httpx.URL(url)) == shown


def _answer(header: str | None) -> httpx.Response:
    headers = {"Retry-After": header} if header is not None else {}
    return httpx.Response(429, headers=headers)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after(_answer("7")) == 7.0
    assert retry_after(_answer("-3")) == 0.0
    assert retry_after(_answer(None)) is None
    assert retry_after(_answer("soon")) is None
    later = datetime.now(UTC) + timedelta(seconds=30)
    waited = retry_after(_answer(format_datetime(later, usegmt=True)))
    assert waited is not None and 25 <= waited <= 31
    past = datetime.now(UTC) - timedelta(hours=1)
    assert retry_after(_answer(format_datetime(past, usegmt=True))) == 0.0


def test_one_tls_context_per_process_and_the_retryable_answers() -> None:
    assert tls_context() is tls_context()
    assert {429, 503} <= RETRYABLE_STATUS and 404 not in RETRYABLE_STATUS
