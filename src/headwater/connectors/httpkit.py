"""HTTP helpers shared by REST sources, action rivers and webhooks: one copy of each.

- :func:`safe_url`: a URL fit for logs and error messages (no query string or fragment, which
  may carry API keys, and no user info).
- :func:`retry_after`: the wait a ``Retry-After`` header asks for, in either of its forms.
- :func:`tls_context`: one verified TLS context per process (building one loads the CA bundle,
  about 0.1 to 0.2 s, too slow per request or per client).
- :data:`RETRYABLE_STATUS`: the answers worth retrying by default.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from urllib.parse import urlsplit, urlunsplit

import httpx

#: Timeouts, too-early, rate limits and the transient server errors.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def safe_url(url: httpx.URL | str) -> str:
    """The URL without user info, query string and fragment (any may hold a credential)."""
    parts = urlsplit(str(url))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@cache
def tls_context() -> ssl.SSLContext:
    """The process's verified TLS context (system CA bundle via certifi, as httpx does)."""
    return httpx.create_ssl_context()
