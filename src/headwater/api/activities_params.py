"""Query parameters of the Activities API, parsed leniently where clients are sloppy.

Clients built for the hosted service (its Postman collection among them) send keys with no
value (``&scheduler_id``) and empty values; those mean "not given", never a 422. Real mistakes
(an unknown status, a malformed time, ``items_per_page=0``, an end before the start) are a 422
in FastAPI's own shape whose ``loc`` names the parameter.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic.json_schema import WithJsonSchema

from headwater.api.paging import DEFAULT_ITEMS_PER_PAGE, MAX_ITEMS_PER_PAGE, MAX_PAGE, PageParams
from headwater.schemas.activities import (
    GROUP_STATUS_WORDS,
    RIVER_TYPE_WORDS,
    RUN_STATUS_WORDS,
    SORT_BY_WORDS,
    normalize_river_type,
    normalize_sort_by,
    normalize_status,
)
from headwater.schemas.common import TIME_FORMATS_HELP, parse_time
from headwater.services.activities_sql import RiverFilters, RunFilters, Slice, Sort, Window

# ``+02:00`` sent unencoded in a query string arrives as `` 02:00``.
_SPACE_OFFSET = re.compile(r"^(.*\d)\s(\d{2}:?\d{2})$")


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _query_time(value: Any) -> datetime:
    if isinstance(value, str):
        value = _SPACE_OFFSET.sub(r"\1+\2", value.strip())
    return parse_time(value)


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def _run_statuses(values: list[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalize_status(v, groups=False) for v in _split(values)))


def _group_statuses(values: list[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(normalize_status(v, groups=True) for v in _split(values)))


def _river_type(value: str | None) -> str | None:
    return normalize_river_type(value) if value else None


def _sort_by(value: str | None) -> str | None:
    return normalize_sort_by(value) if value else None


def _sort_order(value: str | None) -> str | None:
    if value is None:
        return None
    order = value.strip().lower()
    if order not in {"asc", "desc"}:
        raise ValueError(f"unknown sort_order {value!r}; expected asc or desc")
    return order


Blank = BeforeValidator(_blank_to_none)
TimeParam = Annotated[datetime, BeforeValidator(_query_time)]
OptionalText = Annotated[str | None, Blank]
OptionalBool = Annotated[bool | None, Blank]


def _optional(schema: dict[str, Any]) -> WithJsonSchema:
    """The declared values of a parameter (an empty one means "not given")."""
    return WithJsonSchema({"anyOf": [schema, {"type": "null"}]})


def _words_of(words: list[str]) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string", "enum": words}}


RunStatuses = Annotated[
    list[str] | None, AfterValidator(_run_statuses), _optional(_words_of(RUN_STATUS_WORDS))
]
GroupStatuses = Annotated[
    list[str] | None, AfterValidator(_group_statuses), _optional(_words_of(GROUP_STATUS_WORDS))
]

_TIME_HELP = f"Trigger times from (inclusive) / to (exclusive): {TIME_FORMATS_HELP}."
_RUN_STATUS_HELP = (
    "Run status: pending, running, succeeded (succeed), failed, canceled (cancelled), skipped; "
    "repeat the parameter or separate with commas."
)


async def window(
    start_time: Annotated[TimeParam, Query(description=_TIME_HELP)],
    end_time: Annotated[TimeParam, Query(description=_TIME_HELP)],
) -> Window:
    """The required time window; ``end_time`` must come after ``start_time``."""
    if end_time <= start_time:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("query", "end_time"),
                    "msg": "end_time must be after start_time",
                    "input": end_time.isoformat(),
                }
            ]
        )
    return Window(start=start_time, end=end_time)


async def run_filters(
    status: Annotated[RunStatuses, Query(description=_RUN_STATUS_HELP)] = None,
    scheduler_id: Annotated[
        OptionalText, Query(description="Run group id (the hosted API's scheduler id).")
    ] = None,
    sub_river_id: Annotated[OptionalText, Query(description="Sub river id.")] = None,
    target_name: Annotated[OptionalText, Query(description="Target table name.")] = None,
) -> RunFilters:
    return RunFilters(
        statuses=tuple(status or ()),
        run_group_id=scheduler_id,
        sub_river_id=sub_river_id,
        target_name=target_name,
    )


async def status_only(
    status: Annotated[RunStatuses, Query(description=_RUN_STATUS_HELP)] = None,
) -> RunFilters:
    return RunFilters(statuses=tuple(status or ()))


async def group_statuses(
    status: Annotated[
        GroupStatuses,
        Query(description="Run group status: also partially succeeded (partially succeed)."),
    ] = None,
) -> tuple[str, ...]:
    return tuple(status or ())


async def group_run_filters(
    scheduler_id: Annotated[OptionalText, Query(description="Run group id.")] = None,
    sub_river_id: Annotated[
        OptionalText, Query(description="Only groups with a run of this sub river.")
    ] = None,
    target_name: Annotated[
        OptionalText, Query(description="Only groups with a run loading this target table.")
    ] = None,
) -> RunFilters:
    return RunFilters(run_group_id=scheduler_id, sub_river_id=sub_river_id, target_name=target_name)


async def river_filters(
    group_id: Annotated[OptionalText, Query(description="River group id.")] = None,
    is_scheduled: Annotated[
        OptionalBool, Query(description="true: rivers with an enabled schedule; false: others.")
    ] = None,
    search: Annotated[
        OptionalText, Query(description="Rivers whose name contains this (any case).")
    ] = None,
    river_type: Annotated[
        str | None,
        Blank,
        AfterValidator(_river_type),
        _optional({"type": "string", "enum": RIVER_TYPE_WORDS}),
        Query(description="src_to_trgt (source_to_target), logic or actions (action)."),
    ] = None,
) -> RiverFilters:
    return RiverFilters(
        group_id=group_id, is_scheduled=is_scheduled, search=search, river_type=river_type
    )


async def sort(
    sort_by: Annotated[
        str | None,
        Blank,
        AfterValidator(_sort_by),
        _optional({"type": "string", "enum": SORT_BY_WORDS}),
        Query(description="RPUs(Units), last_run (default) or max_duration."),
    ] = None,
    sort_order: Annotated[
        str | None,
        Blank,
        AfterValidator(_sort_order),
        _optional({"type": "string", "enum": ["asc", "desc"]}),
        Query(description="desc (default) or asc."),
    ] = None,
) -> Sort:
    key = normalize_sort_by(sort_by) if sort_by else "last_run"
    return Sort(key=key, descending=sort_order != "asc")


PageNumber = Annotated[Annotated[int, Field(ge=1, le=MAX_PAGE)] | None, Blank]
PageSize = Annotated[Annotated[int, Field(ge=1, le=MAX_ITEMS_PER_PAGE)] | None, Blank]


async def paging(
    page: Annotated[PageNumber, Query(description="Page number, from 1 (default 1).")] = None,
    items_per_page: Annotated[
        PageSize,
        Query(
            description=f"Items per page, 1 to {MAX_ITEMS_PER_PAGE} "
            f"(default {DEFAULT_ITEMS_PER_PAGE})."
        ),
    ] = None,
) -> PageParams:
    return PageParams(page=page or 1, items_per_page=items_per_page or DEFAULT_ITEMS_PER_PAGE)


def as_slice(params: PageParams) -> Slice:
    return Slice(offset=params.offset, limit=params.items_per_page)
