"""Endpoint options, record selection by JSON path, and the pagination styles.

A paginator turns "the request for page N and its response" into "the request for page N+1",
or ``None`` at the end. Each style stops on an empty page, so an API that ignores the paging
parameter cannot loop forever; ``max_pages`` is a last safety net.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

import httpx

from headwater.connectors.errors import ConfigurationError, ValueRejected
from headwater.connectors.files.shape import NestedMode, parse_overrides

PageStyle = Literal["none", "page", "offset", "cursor", "link"]
_STYLES = ("none", "page", "offset", "cursor", "link")
_PATH_PART = re.compile(r"[^.\[\]]+|\[\d+\]")
_DEFAULT_CONTAINERS = ("data", "results", "items", "records", "rows")
_KEYS = {
    "path",
    "method",
    "params",
    "body",
    "headers",
    "records_path",
    "pagination",
    "incremental_param",
    "incremental_in",
    "nested",
    "columns",
    "primary_key",
}
_PAGING_KEYS = {
    "type",
    "page_param",
    "start_page",
    "size_param",
    "page_size",
    "offset_param",
    "limit_param",
    "cursor_param",
    "cursor_path",
    "max_pages",
}


@dataclass(frozen=True)
class Paging:
    style: PageStyle = "none"
    page_param: str = "page"
    start_page: int = 1
    size_param: str | None = None
    page_size: int | None = None
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    cursor_path: str = "next_cursor"
    max_pages: int = 100_000


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: Literal["GET", "POST"] = "GET"
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    records_path: str | None = None
    paging: Paging = field(default_factory=Paging)
    incremental_param: str | None = None
    incremental_in: Literal["query", "body"] = "query"
    nested: NestedMode = "json"
    overrides: Mapping[str, Any] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()


def parse_endpoint(name: str, raw: Mapping[str, Any], where: str) -> Endpoint:
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown source option(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_KEYS))})"
        )
    paging_raw = raw.get("pagination") or {}
    if isinstance(paging_raw, str):
        paging_raw = {"type": paging_raw}
    if not isinstance(paging_raw, Mapping) or set(paging_raw) - _PAGING_KEYS:
        raise ConfigurationError(
            f"{where}: pagination must be an object with keys {', '.join(sorted(_PAGING_KEYS))}"
        )
    style = str(paging_raw.get("type", "none")).lower()
    if style not in _STYLES:
        raise ConfigurationError(f"{where}: pagination type must be one of {', '.join(_STYLES)}")
    paging_kwargs = {k: v for k, v in paging_raw.items() if k != "type"}
    try:
        paging = Paging(style=cast(PageStyle, style), **paging_kwargs)
        paging = replace(
            paging,
            start_page=int(paging.start_page),
            max_pages=int(paging.max_pages),
            page_size=None if paging.page_size is None else int(paging.page_size),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where}: invalid pagination: {exc}") from None
    if style == "offset" and not paging.page_size:
        raise ConfigurationError(f"{where}: offset pagination needs page_size (the limit)")
    method = str(raw.get("method", "GET")).upper()
    if method not in ("GET", "POST"):
        raise ConfigurationError(f"{where}: method must be GET or POST")
    nested = str(raw.get("nested", "json")).lower()
    if nested not in ("json", "flatten"):
        raise ConfigurationError(f"{where}: nested must be json or flatten")
    incremental_in = str(raw.get("incremental_in", "query")).lower()
    if incremental_in not in ("query", "body"):
        raise ConfigurationError(f"{where}: incremental_in must be query or body")
    for key in ("params", "headers"):
        if not isinstance(raw.get(key) or {}, Mapping):
            raise ConfigurationError(f"{where}: {key} must be an object")
    primary_key = raw.get("primary_key") or ()
    return Endpoint(
        path=str(raw.get("path") or name),
        method=cast(Literal["GET", "POST"], method),
        params=dict(raw.get("params") or {}),
        body=raw.get("body"),
        headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
        records_path=raw.get("records_path"),
        paging=paging,
        incremental_param=raw.get("incremental_param"),
        incremental_in=cast(Literal["query", "body"], incremental_in),
        nested=cast(NestedMode, nested),
        overrides=parse_overrides(raw.get("columns"), where),
        primary_key=(primary_key,) if isinstance(primary_key, str) else tuple(primary_key),
    )


def select(body: Any, path: str | None) -> Any:
    """The value at a dotted JSON path (``$.data.items``, ``data[0].rows``); ``None`` if absent."""
    if path is None or path.strip() in ("", "$"):
        return body
    value = body
    for part in _PATH_PART.findall(path.strip().removeprefix("$").lstrip(".")):
        if part.startswith("["):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and index < len(value) else None
        else:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


def records_of(body: Any, path: str | None, where: str) -> list[dict[str, Any]]:
    """The records of one response: the list at ``path``, or a guess for the common shapes."""
    if path is not None:
        found = select(body, path)
    elif isinstance(body, dict):
        found = next((body[k] for k in _DEFAULT_CONTAINERS if isinstance(body.get(k), list)), body)
    else:
        found = body
    if found is None:
        return []
    if isinstance(found, dict):
        found = [found]
    if not isinstance(found, list):
        raise ValueRejected(f"{where}: records_path {path!r} does not lead to a list of objects")
    return [r if isinstance(r, dict) else {"value": r} for r in found]


@dataclass
class PageRequest:
    url: str
    params: dict[str, Any]
    body: Any
    number: int = 1


def first_request(endpoint: Endpoint, url: str, params: dict[str, Any], body: Any) -> PageRequest:
    paging = endpoint.paging
    params = dict(params)
    if paging.style == "page":
        params[paging.page_param] = paging.start_page
        if paging.size_param and paging.page_size:
            params[paging.size_param] = paging.page_size
    elif paging.style == "offset":
        params[paging.offset_param] = 0
        params[paging.limit_param] = paging.page_size
    return PageRequest(url, params, body)


def next_request(
    endpoint: Endpoint,
    current: PageRequest,
    response: httpx.Response,
    body: Any,
    count: int,
) -> PageRequest | None:
    """The request for the next page, or ``None`` when this was the last one."""
    paging = endpoint.paging
    if paging.style == "none" or current.number >= paging.max_pages:
        return None
    if count == 0 and paging.style in ("page", "offset"):
        return None
    following = PageRequest(current.url, dict(current.params), current.body, current.number + 1)
    if paging.style == "page":
        if paging.page_size and count < paging.page_size:
            return None
        following.params[paging.page_param] = int(current.params[paging.page_param]) + 1
    elif paging.style == "offset":
        if paging.page_size and count < paging.page_size:
            return None
        following.params[paging.offset_param] = int(current.params[paging.offset_param]) + count
    elif paging.style == "cursor":
        cursor = select(body, paging.cursor_path)
        if cursor in (None, "", False) or count == 0:
            return None
        following.params[paging.cursor_param] = cursor
    elif paging.style == "link":
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        following.url = str(response.url.join(link))
        following.params = {}
    return following
