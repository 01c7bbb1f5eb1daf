"""Paging for list endpoints: the ``page``/``items_per_page`` parameters and the envelope.

Links are absolute: ``Settings.public_url`` when set (the deployment sits behind a proxy),
else the base URL of the request itself. The other query parameters are kept as sent, so a
client can follow ``next_page`` without rebuilding its filters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlencode

from fastapi import Query, Request

from headwater.schemas.common import Page
from headwater.settings import Settings

ItemT = TypeVar("ItemT")

DEFAULT_ITEMS_PER_PAGE = 50
MAX_ITEMS_PER_PAGE = 200
#: Past this, ``(page - 1) * items_per_page`` no longer fits the databases' 64-bit OFFSET.
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class PageParams:
    page: int
    items_per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.items_per_page


def paging(
    default: int = DEFAULT_ITEMS_PER_PAGE, maximum: int = MAX_ITEMS_PER_PAGE
) -> Callable[..., PageParams]:
    """A dependency reading ``page`` (>= 1) and ``items_per_page`` (1..maximum)."""

    def dependency(
        page: int = Query(1, ge=1, le=MAX_PAGE, description=f"Page number, 1 to {MAX_PAGE}."),
        items_per_page: int = Query(
            default, ge=1, le=maximum, description=f"Items per page, 1 to {maximum}."
        ),
    ) -> PageParams:
        return PageParams(page=page, items_per_page=items_per_page)

    return dependency


def base_url(request: Request, settings: Settings) -> str:
    """Where clients reach this deployment, without a trailing slash."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def page_url(request: Request, settings: Settings, page: int) -> str:
    """The request's own URL with ``page`` replaced."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    query.append(("page", str(page)))
    # the path is percent-decoded (``data flows``): encode it again for a valid URL
    return f"{base_url(request, settings)}{quote(request.url.path)}?{urlencode(query)}"


def make_page(
    request: Request,
    settings: Settings,
    params: PageParams,
    items: Sequence[ItemT],
    total: int,
    *,
    account_id: str,
    environment_id: str | None,
) -> Page[ItemT]:
    """The envelope for one page of ``total`` items."""
    has_next = params.offset + len(items) < total
    # Not ``Page[ItemT]``: pydantic keeps parametrized classes in a weak cache, so that built a
    # new model class whenever the collector had freed the last one (6 % of an Activities
    # request's CPU); the route's response model checks the items' type anyway.
    page: Page[ItemT] = Page(
        items=list(items),
        page=params.page,
        items_per_page=params.items_per_page,
        current_page_size=len(items),
        total_items=total,
        next_page=page_url(request, settings, params.page + 1) if has_next else None,
        previous_page=page_url(request, settings, params.page - 1) if params.page > 1 else None,
        account_id=account_id,
        environment_id=environment_id,
    )
    return page
