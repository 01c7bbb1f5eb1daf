"""When a schedule fires: a 5-field cron expression read in an IANA time zone.

One function answers it for everyone: the scheduler (``scheduler.service``) stores its result
as the next fire time, and the console's "next five runs" preview lists its results, so what a
user sees before saving is what the scheduler does. The expression is matched against the wall
clock of the zone (``0 9 * * *`` in ``Europe/Paris`` is 08:00 UTC in winter and 07:00 UTC in
summer). Across a change of the clocks it behaves like cron: a time skipped in spring fires at
the first minute after the gap; a time that happens twice in autumn fires once, unless the
expression names no fixed hour (``*/30 * * * *`` keeps its interval through both hours).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import croniter

DEFAULT_ZONE = "UTC"


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every IANA zone name this installation knows (the ``tzdata`` package ships them)."""
    return frozenset(available_timezones() | {DEFAULT_ZONE})


def checked_zone(name: str) -> str:
    """``name`` if it is an IANA time zone, else ``ValueError`` naming it."""
    if name not in known_zones():
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
        )
    return name


def _every_hour(expression: str) -> bool:
    return "*" in expression.split(" ")[1]


def next_fire_after(expression: str, moment: datetime, zone: str = DEFAULT_ZONE) -> datetime:
    """The first fire time strictly after ``moment``, as an aware UTC datetime.

    Raises what croniter raises (``ValueError`` and its kin) for an expression that cannot
    fire; callers turn that into their own message.
    """
    tz = ZoneInfo(zone or DEFAULT_ZONE)
    start = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(tz)
    it = croniter(" ".join(expression.split()), start)
    fixed_hour = not _every_hour(" ".join(expression.split()))
    while True:
        fire = it.get_next(datetime).astimezone(UTC)
        local = fire.astimezone(tz)
        if fixed_hour and local.fold == 1 and _repeated(local):
            continue  # the wall-clock time already fired before the clocks went back
        return fire


def _repeated(local: datetime) -> bool:
    """Whether this wall-clock time also happened earlier (the repeated hour in autumn)."""
    return local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset()


def next_fires(
    expression: str, moment: datetime, zone: str = DEFAULT_ZONE, count: int = 5
) -> list[datetime]:
    """The next ``count`` fire times after ``moment`` (UTC), as ``next_fire_after`` finds them."""
    fires: list[datetime] = []
    for _ in range(count):
        moment = next_fire_after(expression, moment, zone)
        fires.append(moment)
    return fires
