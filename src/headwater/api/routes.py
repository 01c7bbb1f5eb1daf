"""The explicit list of routers the app serves, and a flat view of its route table."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from headwater.api import health


def include_routers(app: FastAPI) -> None:
    app.include_router(health.router)


def iter_api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    """Every ``APIRoute``, also inside included routers (FastAPI may wrap them lazily)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
            continue
        nested = getattr(getattr(route, "original_router", None), "routes", None)
        if nested is None:
            nested = getattr(route, "routes", None)
        if nested is not None:
            yield from iter_api_routes(nested)
