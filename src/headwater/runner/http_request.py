"""Execute an action river's HTTP request: templating, auth, pagination, retries, timeout.

Shared by action rivers run on their own and action steps of logic rivers. Everything here
works on the validated ``ActionProperties`` with secrets already opened; nothing here logs a
header, a body or a query string, because those are where credentials live. Retries cover
429/5xx (``retry_on_status``), timeouts and connection errors, waiting ``backoff_seconds``
doubled per attempt, or exactly what a ``Retry-After`` header asks (capped), and the wait
ends early when the run is cancelled.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx
from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from headwater.connectors.httpkit import retry_after, safe_url, tls_context
from headwater.runner.contracts import RunCanceled
from headwater.runner.variables import Scope, checked_header, render, render_json, render_url
from headwater.schemas.rivers_actions import (
    ActionProperties,
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
    Pagination,
)
from headwater.security.pinning import guarded_client_options
from headwater.security.redact import excerpt
from headwater.security.ssrf import OutboundPolicy, current_policy

#: The longest ``Retry-After`` honoured; a server asking for more fails the run instead.
MAX_RETRY_AFTER_SECONDS = 600.0
BODY_EXCERPT = 300

Log = Callable[[str, str], None]


class ActionFailed(Exception):
    """The request failed for good (after retries); the message says which call and why."""

    transient = False


@lru_cache(maxsize=256)
def _compiled(path: str) -> JSONPath:
    try:
        return parse_jsonpath(path)
    except (JsonPathParserError, ValueError, TypeError, AttributeError) as exc:
        raise ActionFailed(f"invalid JSON path {path!r}: {exc}") from None


def json_path(path: str, data: Any) -> list[Any]:
    """Every value ``path`` selects in ``data`` (``$`` is the whole document)."""
    if path.strip() == "$":
        return [data]
    return [match.value for match in _compiled(path).find(data)]


def records_at(path: str, data: Any) -> list[Any]:
    """The records a page holds at ``path``: a list spread out, one object as one record."""
    found = json_path(path, data)
    if len(found) == 1 and isinstance(found[0], list):
        return list(found[0])
    return [item for item in found if item is not None]


@dataclass
class HttpOutcome:
    """The parsed bodies of every page, the last HTTP status and how many calls were made."""

    pages: list[Any] = field(default_factory=list)
    status: int = 0
    calls: int = 0


def _parse_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class _Caller:
    """One action execution: a client, the retry policy and the cancel event."""

    def __init__(
        self, props: ActionProperties, cancel: threading.Event, log: Log, policy: OutboundPolicy
    ) -> None:
        self.props = props
        self.cancel = cancel
        self.log = log
        self.calls = 0
        # The outbound guard sees every request, redirect hops and next-page links included,
        # and (production) every connection goes to the address it checked.
        self.client = httpx.Client(
            timeout=props.timeout_seconds,
            follow_redirects=True,
            **guarded_client_options(policy, tls_context()),
        )

    def close(self) -> None:
        self.client.close()

    def _wait(self, seconds: float) -> None:
        if self.cancel.wait(seconds):
            raise RunCanceled("canceled while waiting to retry a request")

    def send(self, request: httpx.Request) -> httpx.Response:
        """Send with retries; return the final response (its status may still be an error)."""
        retries = self.props.retries
        shown = f"{request.method} {safe_url(str(request.url))}"
        for attempt in range(1, retries.max_attempts + 1):
            if self.cancel.is_set():
                raise RunCanceled("canceled before a request")
            last = attempt == retries.max_attempts
            backoff = retries.backoff_seconds * (2 ** (attempt - 1))
            self.calls += 1
            try:
                response = self.client.send(request)
            except httpx.TransportError as exc:  # a timeout is one too, said in its own words
                if isinstance(exc, httpx.TimeoutException):
                    problem = f"timed out after {self.props.timeout_seconds:g} seconds"
                else:
                    problem = f"failed: {type(exc).__name__}: {exc}"
                if last:
                    raise ActionFailed(
                        f"The request {shown} {problem} (attempt {attempt} of "
                        f"{retries.max_attempts})"
                    ) from None
                self.log("WARNING", f"{shown} {problem}; retrying in {backoff:g} s")
                self._wait(backoff)
                continue
            response.read()
            if response.status_code not in retries.retry_on_status or last:
                return response
            asked = retry_after(response)
            if asked is not None and asked > MAX_RETRY_AFTER_SECONDS:
                raise ActionFailed(
                    f"The request {shown} answered HTTP {response.status_code} asking to retry "
                    f"after {asked:g} s, more than the {MAX_RETRY_AFTER_SECONDS:g} s allowed"
                )
            delay = backoff if asked is None else asked
            self.log(
                "WARNING",
                f"{shown} answered HTTP {response.status_code}; retrying in {delay:g} s "
                f"(attempt {attempt + 1} of {retries.max_attempts})",
            )
            self._wait(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def checked(self, request: httpx.Request) -> httpx.Response:
        response = self.send(request)
        if response.status_code >= 400:
            raise ActionFailed(
                f"The request {request.method} {safe_url(str(request.url))} answered HTTP "
                f"{response.status_code}: {excerpt(response.text, BODY_EXCERPT)}"
            )
        return response


def _oauth_token(caller: _Caller, auth: OAuth2ClientCredentials, scope: Scope) -> str:
    """Client-credentials grant (credentials in the form body, RFC 6749 section 2.3.1)."""
    form = {
        "grant_type": "client_credentials",
        "client_id": render(auth.client_id, scope),
        "client_secret": render(auth.client_secret, scope),
    }
    if auth.scope:
        form["scope"] = render(auth.scope, scope)
    if auth.audience:
        form["audience"] = render(auth.audience, scope)
    url = render_url(auth.token_url, scope)
    request = caller.client.build_request("POST", url, data=form)
    response = caller.checked(request)
    body = _parse_body(response)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not token:
        raise ActionFailed(f"The token endpoint {safe_url(url)} answered without an access_token")
    return str(token)


def _auth_parts(caller: _Caller, scope: Scope) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Headers and query parameters the auth adds, and secrets obtained on the way."""
    auth = caller.props.auth
    if isinstance(auth, BasicAuth):
        raw = f"{render(auth.username, scope)}:{render(auth.password, scope)}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}, {}, []
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {render(auth.token, scope)}"}, {}, []
    if isinstance(auth, ApiKeyAuth):
        value = render(auth.value, scope)
        if auth.location == "query":
            return {}, {auth.name: value}, []
        return {auth.name: value}, {}, []
    if isinstance(auth, OAuth2ClientCredentials):
        token = _oauth_token(caller, auth, scope)
        return {"Authorization": f"Bearer {token}"}, {}, [token]
    return {}, {}, []


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _page_params(pagination: Pagination, index: int, cursor: Any) -> dict[str, str]:
    """The query parameters that select page ``index`` (0-based)."""
    params: dict[str, str] = {}
    if pagination.type == "page":
        params[str(pagination.page_param)] = str(pagination.start_page + index)
    elif pagination.type == "offset":
        params[str(pagination.offset_param)] = str(index * int(pagination.page_size or 0))
    elif pagination.type == "cursor" and cursor is not None:
        params[str(pagination.cursor_param)] = _scalar(cursor)
    if pagination.type != "none" and pagination.size_param and pagination.page_size:
        params[pagination.size_param] = str(pagination.page_size)
    return params


def _body_kwargs(props: ActionProperties, scope: Scope) -> dict[str, Any]:
    body = props.request.body
    if body.type == "json":
        return {
            "content": json.dumps(render_json(body.content, scope)).encode(),
            "headers": {"Content-Type": "application/json"},
        }
    if body.type == "form":
        rendered = render_json(body.content, scope)
        return {"data": {str(k): _scalar(v) for k, v in dict(rendered).items()}}
    return {}


def perform(
    props: ActionProperties,
    scope: Scope,
    *,
    cancel: threading.Event,
    log: Log,
    records_path: str = "$",
    on_secret: Callable[[str], None] | None = None,
    policy: OutboundPolicy | None = None,
) -> HttpOutcome:
    """Make the request (every page of it) and return the parsed bodies.

    ``records_path`` tells pagination where a page's records are (an empty page ends it);
    ``on_secret`` receives credentials obtained while running (an OAuth access token);
    ``policy`` is the outbound guard (default: ``ssrf.current_policy()``).
    """
    request_def = props.request
    # Values are encoded for where they go: URL components percent-encoded (render_url),
    # query parameters and form fields encoded by httpx, JSON bodies built as JSON values
    # (render_json), headers refused when a value holds a line break (checked_header).
    url = render_url(request_def.url, scope)
    query = {
        k: render(v, scope) if isinstance(v, str) else _scalar(v)
        for k, v in request_def.query.items()
    }
    headers = dict(
        checked_header(render(k, scope), render(v, scope)) for k, v in request_def.headers.items()
    )
    body = _body_kwargs(props, scope)
    caller = _Caller(props, cancel, log, policy or current_policy())
    outcome = HttpOutcome()
    try:
        auth_headers, auth_query, obtained = _auth_parts(caller, scope)
        for secret in obtained:
            if on_secret is not None:
                on_secret(secret)
        headers.update(checked_header(k, v) for k, v in auth_headers.items())
        pagination = props.pagination
        pages = pagination.max_pages if pagination.type != "none" else 1
        link: str | None = None
        cursor: Any = None
        for index in range(pages):
            if link is not None:
                # The next link carries the rest of the query; only an API key is re-added.
                target = httpx.URL(link).copy_merge_params(auth_query)
            else:
                params = {**query, **auth_query, **_page_params(pagination, index, cursor)}
                target = httpx.URL(url).copy_merge_params(params)
            request = caller.client.build_request(
                request_def.method,
                target,
                headers={**headers, **body.get("headers", {})},
                **{k: v for k, v in body.items() if k != "headers"},
            )
            response = caller.checked(request)
            outcome.status = response.status_code
            page = _parse_body(response)
            log("INFO", f"{request_def.method} {safe_url(str(target))} -> HTTP {outcome.status}")
            if pagination.type == "none":
                outcome.pages.append(page)
                break
            records = records_at(records_path, page)
            if index > 0 and not records:
                break  # an empty page ends the pagination and adds nothing
            outcome.pages.append(page)
            if not records and pagination.type in {"page", "offset"}:
                break
            if pagination.type == "offset" and len(records) < int(pagination.page_size or 0):
                break
            if pagination.type == "cursor":
                found = json_path(str(pagination.cursor_path), page) if page is not None else []
                cursor = found[0] if found else None
                if cursor in (None, ""):
                    break
            if pagination.type == "link_header":
                next_link = response.links.get("next", {}).get("url")
                if not next_link:
                    break
                link = str(response.url.join(next_link))
    finally:
        outcome.calls = caller.calls
        caller.close()
    return outcome
