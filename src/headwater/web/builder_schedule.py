"""Schedule helpers for the builder: cron presets and the next fire times shown before saving.

Schedules are evaluated in UTC (``schemas.rivers_common.Scheduler``); the time zone a user
picks only changes how the fire times are shown, and the page says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

PRESETS = (
    ("", "Custom cron expression"),
    ("0 * * * *", "Hourly, on the hour"),
    ("0 6 * * *", "Daily at 06:00 UTC"),
    ("0 0 * * *", "Daily at midnight UTC"),
    ("0 6 * * 1", "Weekly, Monday 06:00 UTC"),
)
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Paris", "America/New_York", "Asia/Tokyo")


def zone_names() -> list[str]:
    """Common zones first, then every other one the system knows."""
    rest = sorted(available_timezones() - set(COMMON_ZONES))
    return [*COMMON_ZONES, *rest]


def next_fires(cron: str, now: datetime, zone: str = "UTC", count: int = 5) -> list[str]:
    """The next ``count`` fire times of ``cron`` (UTC), written in ``zone``; ``[]`` if the
    expression is not a valid 5-field cron (the save shows the API's message for it)."""
    expression = " ".join(cron.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        return []
    try:
        shown = ZoneInfo(zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        shown = ZoneInfo("UTC")
    start = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    it = croniter(expression, start)
    times = [it.get_next(datetime).astimezone(shown) for _ in range(count)]
    return [t.strftime("%a %Y-%m-%d %H:%M %Z") for t in times]
