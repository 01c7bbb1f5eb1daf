"""Time parameters in every spelling clients send, and the paging envelope model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from headwater.schemas.common import UtcTimestamp, epoch_ms, parse_time

EXPECTED = datetime(2026, 3, 1, 10, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-01T10:30:05",
        "2026-03-01T10:30:05Z",
        "2026-03-01T10:30:05z",
        "2026-03-01T10:30:05+00:00",
        "2026-03-01T12:30:05+02:00",
        "2026-03-01T05:30:05-05:00",
        " 2026-03-01T10:30:05 ",
        str(epoch_ms(EXPECTED)),
        epoch_ms(EXPECTED),
        datetime(2026, 3, 1, 10, 30, 5),
    ],
)
def test_every_spelling_means_the_same_utc_instant(value: object) -> None:
    parsed = parse_time(value)
    assert parsed == EXPECTED and parsed.tzinfo == UTC


def test_fractions_survive() -> None:
    assert parse_time("2026-03-01T10:30:05.250Z").microsecond == 250_000
    assert parse_time("1772361005250").microsecond == 250_000


@pytest.mark.parametrize(
    "value", ["", "yesterday", "2026-13-01T00:00:00", "99999999999999999999", None, True]
)
def test_garbage_is_a_value_error(value: object) -> None:
    with pytest.raises(ValueError):
        parse_time(value)


def test_the_annotated_type_validates_in_models() -> None:
    adapter = TypeAdapter(UtcTimestamp)
    assert adapter.validate_python("2026-03-01T10:30:05Z") == EXPECTED
    with pytest.raises(ValidationError):
        adapter.validate_python("soon")
