"""One route, three spellings: ``rivers``, ``data flows`` (``data%20flows``) and ``data_flows``.

The hosted API and its Postman collection spell the river path segment three ways, so every
river route is registered once per spelling. Only the ``rivers`` spelling appears in the
OpenAPI document; the others are hidden duplicates of the same endpoint. Use this helper for
every route under ``E/rivers`` (definitions, versions, runs, activities, ...):

    river_routes(router, "GET", "/{river_id}/runs", list_runs, summary="Runs of a river")

A suffix may contain ``{sub}`` where the spelling repeats in a later segment: it becomes
``sub_`` plus any spelling, so ``/{river_id}/activities_{sub}`` serves
``activities_sub_rivers``, ``activities_sub_data flows`` and ``activities_sub_data_flows``
under each of the three prefixes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

ENV_PREFIX = "/v1/accounts/{account_id}/environments/{environment_id}"
RIVER_SEGMENTS: tuple[str, ...] = ("rivers", "data flows", "data_flows")
SUB_MARKER = "{sub}"


def river_paths(suffix: str = "") -> list[str]:
    """Every spelling of ``E/rivers<suffix>``, the canonical one first.

    A ``{sub}`` marker takes every spelling independently of the prefix's: the seed's Postman
    collection itself sends ``data flows/{id}/activities_sub_data_flows``.
    """
    subs = [f"sub_{segment}" for segment in RIVER_SEGMENTS] if SUB_MARKER in suffix else [""]
    return [
        f"{ENV_PREFIX}/{segment}{suffix.replace(SUB_MARKER, sub)}"
        for segment in RIVER_SEGMENTS
        for sub in subs
    ]


def river_routes(
    router: APIRouter,
    method: str,
    suffix: str,
    endpoint: Callable[..., Any],
    **kwargs: Any,
) -> None:
    """Register ``endpoint`` for ``method`` under every spelling of ``E/rivers<suffix>``."""
    for index, path in enumerate(river_paths(suffix)):
        options = dict(kwargs)
        if index > 0:
            options["include_in_schema"] = False
            options.pop("operation_id", None)
        router.add_api_route(path, endpoint, methods=[method.upper()], **options)
