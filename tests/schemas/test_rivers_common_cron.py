"""Crons that never fire are refused where every schedule is validated (a security finding:
one impossible schedule, ``0 0 31 2 *``, stopped every scheduler tick)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from headwater.schemas.rivers_common import Scheduler, checked_cron


@pytest.mark.parametrize("impossible", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *", "0 0 31 11 *"])
def test_cron_that_never_fires_is_rejected_naming_the_field(impossible: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Scheduler(cron_expression=impossible)
    assert caught.value.errors()[0]["loc"] == ("cron_expression",)
    assert "never fires" in str(caught.value)


def test_rare_dates_and_the_weekday_or_day_rule_still_pass() -> None:
    assert checked_cron("0 0 29 2 *") == "0 0 29 2 *"  # every 4 years
    assert checked_cron("0  0 31 2 1") == "0 0 31 2 1"  # day 31 OR Monday: Mondays in February
    with pytest.raises(ValueError, match="not a valid 5-field cron"):
        checked_cron("0 0 32 1 *")
