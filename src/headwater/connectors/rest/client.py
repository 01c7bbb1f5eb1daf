"""HTTP with authentication and patient retries, for the REST source.

APIs rate-limit and fail transiently as a matter of course, so a request is retried on 429,
on 5xx and on transport errors (connection refused, timeouts), waiting what ``Retry-After``
asks (seconds or an HTTP date, capped) or an exponential backoff with jitter. A retry repeats
the same page request, which is what keeps paginated reads free of gaps and duplicates. Other
4xx answers are final. Messages name the method and the URL without its query string, because
an API key may travel there; secrets are never logged.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from headwater.connectors.errors import (
    AuthenticationFailed,
    ConfigurationError,
    ConnectionFailed,
    ObjectNotFound,
)
from headwater.connectors.httpkit import RETRYABLE_STATUS, retry_after, safe_url, tls_context
from headwater.connectors.rest.spec import AUTH_TYPES
from headwater.security.pinning import guarded_client_options
from headwater.security.redact import excerpt
from headwater.security.ssrf import current_policy

LogFn = Callable[[str, str], None]
#: Characters of an error response body kept in the error message.
ERROR_EXCERPT = 200


class HttpClient:
    """One ``httpx.Client`` per source, with the connection's auth applied to every request."""

    def __init__(self, props: Mapping[str, Any], sleep: Callable[[float], None] = time.sleep):
        self.props = props
        self.base_url = str(props["base_url"]).rstrip("/")
        self.auth_type = str(props.get("auth_type") or "none").lower()
        if self.auth_type not in AUTH_TYPES:
            raise ConfigurationError(f"http auth_type must be one of {', '.join(AUTH_TYPES)}")
        self._check_auth()
        self.max_retries = max(0, int(props.get("max_retries") or 0))
        self.max_wait = float(props.get("max_retry_wait_seconds") or 120)
        self.sleep = sleep
        self.log: LogFn = lambda level, message: None
        headers = {"Accept": "application/json", "User-Agent": "headwater"}
        if props.get("headers"):
            try:
                extra = json.loads(str(props["headers"]))
            except ValueError:
                raise ConfigurationError("http headers must be a JSON object") from None
            if not isinstance(extra, dict):
                raise ConfigurationError("http headers must be a JSON object")
            headers.update({str(k): str(v) for k, v in extra.items()})
        # Every request (redirect hops, absolute next-page links, the token URL) passes the
        # outbound guard of this run, or of the process (``headwater.security.ssrf``), and
        # in production connects only to the addresses it checked (``security.pinning``).
        self.client = httpx.Client(
            timeout=float(props.get("timeout_seconds") or 30),
            headers=headers,
            follow_redirects=True,
            **guarded_client_options(
                current_policy(), tls_context() if props.get("verify_tls", True) else False
            ),
        )
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    def _check_auth(self) -> None:
        needs = {
            "basic": ("username",),
            "bearer": ("token",),
            "api_key": ("api_key",),
            "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
        }.get(self.auth_type, ())
        missing = [name for name in needs if not self.props.get(name)]
        if missing:
            raise ConfigurationError(
                f"http auth_type {self.auth_type!r} needs the propert"
                f"{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}"
            )

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    # -- auth ---------------------------------------------------------------------------------

    def _auth(self) -> tuple[dict[str, str], dict[str, str], tuple[str, str] | None]:
        """Headers, query parameters and basic credentials for the configured auth."""
        props = self.props
        if self.auth_type == "basic":
            return {}, {}, (str(props["username"]), str(props.get("password") or ""))
        if self.auth_type == "bearer":
            return {"Authorization": f"Bearer {props['token']}"}, {}, None
        if self.auth_type == "api_key":
            name = str(props.get("api_key_name") or "X-API-Key")
            if str(props.get("api_key_in") or "header").lower() == "query":
                return {}, {name: str(props["api_key"])}, None
            return {name: str(props["api_key"])}, {}, None
        if self.auth_type == "oauth2_client_credentials":
            return {"Authorization": f"Bearer {self._oauth_token()}"}, {}, None
        return {}, {}, None

    def _oauth_token(self, refresh: bool = False) -> str:
        with self._lock:
            if self._token and not refresh and time.monotonic() < self._token_expires:
                return self._token
            data = {"grant_type": "client_credentials"}
            if self.props.get("scope"):
                data["scope"] = str(self.props["scope"])
            url = str(self.props["token_url"])
            response = self._send(
                "POST",
                url,
                data=data,
                auth=(str(self.props["client_id"]), str(self.props["client_secret"])),
            )
            try:
                body = response.json()
                self._token = str(body["access_token"])
            except (ValueError, KeyError, TypeError):
                raise AuthenticationFailed(
                    f"OAuth2 token endpoint {safe_url(url)} returned no access_token"
                ) from None
            expires = float(body.get("expires_in") or 3600)
            self._token_expires = time.monotonic() + max(expires - 30, 1)
            return self._token

    # -- requests -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        refreshed = False
        while True:
            headers, auth_params, basic = self._auth()
            headers.update(extra_headers or {})
            # Merge into the URL's own query (a Link header's next URL carries the page):
            # httpx's ``params=`` would replace that query instead.
            target = httpx.URL(url).copy_merge_params({**(params or {}), **auth_params})
            response = self._send(method, str(target), json=json_body, headers=headers, auth=basic)
            if (
                response.status_code == 401
                and self.auth_type == "oauth2_client_credentials"
                and not refreshed
            ):
                refreshed = True
                self._oauth_token(refresh=True)
                continue
            return response

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; return a 2xx/3xx response or raise a classified error."""
        where = f"{method} {safe_url(url)}"
        attempt = 0
        while True:
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise ConnectionFailed(
                        f"{where}: {type(exc).__name__} after {attempt + 1} attempt(s)"
                    ) from None
                wait = self._backoff(attempt)
                self.log("warning", f"{where}: {type(exc).__name__}; retrying in {wait:.1f} s")
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status not in RETRYABLE_STATUS:
                    raise _final_error(where, response)
                if attempt >= self.max_retries:
                    raise ConnectionFailed(f"{where}: HTTP {status} after {attempt + 1} attempt(s)")
                asked = retry_after(response)
                wait = min(asked, self.max_wait) if asked is not None else self._backoff(attempt)
                self.log(
                    "warning",
                    f"{where}: HTTP {status}; retrying in {wait:.1f} s "
                    f"(attempt {attempt + 2} of {self.max_retries + 1})",
                )
            attempt += 1
            self.sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_wait, 0.5 * 2**attempt) * (0.5 + random.random() / 2))

    def close(self) -> None:
        self.client.close()


def _final_error(where: str, response: httpx.Response) -> Exception:
    status = response.status_code
    detail = excerpt(response.text.strip(), ERROR_EXCERPT)
    message = f"{where}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in (401, 403):
        return AuthenticationFailed(message)
    if status == 404:
        return ObjectNotFound(message)
    return ConfigurationError(message)
