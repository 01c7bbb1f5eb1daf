"""Schedule helpers for the builder: cron presets and the next fire times shown before saving.

The fire times come from ``schemas.cron.next_fires``, the function the scheduler uses, read in
the schedule's own time zone; they are written in that zone and in UTC, so what the page shows
is what will happen.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from headwater.schemas import cron

PRESETS = (
    ("", "Custom cron expression"),
    ("0 * * * *", "Hourly, on the hour"),
    ("0 6 * * *", "Daily at 06:00"),
    ("0 0 * * *", "Daily at midnight"),
    ("0 6 * * 1", "Weekly, Monday 06:00"),
)
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Paris", "America/New_York", "Asia/Tokyo")


def zone_names() -> list[str]:
    """Common zones first, then every other one the system knows."""
    rest = sorted(cron.known_zones() - set(COMMON_ZONES))
    return [*COMMON_ZONES, *rest]


def zone_error(zone: str) -> str:
    """The API's message for an unknown zone, or ``""``."""
    try:
        cron.checked_zone(zone or cron.DEFAULT_ZONE)
    except ValueError as exc:
        return str(exc)
    return ""


def next_fires(expression: str, now: datetime, zone: str = "UTC", count: int = 5) -> list[str]:
    """The next ``count`` fire times of ``expression`` read in ``zone``, written in that zone
    (with UTC beside them when it is another); ``[]`` if the expression or the zone is not
    valid (the save shows the API's message for it)."""
    expression = " ".join(expression.split())
    zone = zone or cron.DEFAULT_ZONE
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression) or zone_error(zone):
        return []
    try:
        fires = cron.next_fires(expression, now, zone, count)
    except (ValueError, KeyError, OverflowError):
        return []
    shown = ZoneInfo(zone)
    return [_written(fire, shown, zone) for fire in fires]


def _written(fire: datetime, shown: ZoneInfo, zone: str) -> str:
    local = fire.astimezone(shown).strftime("%a %Y-%m-%d %H:%M %Z")
    if zone == cron.DEFAULT_ZONE:
        return local
    return f"{local} ({fire.astimezone(UTC).strftime('%H:%M')} UTC)"
