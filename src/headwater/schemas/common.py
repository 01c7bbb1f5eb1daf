"""Shapes and parsers every list endpoint shares: time parameters and the paging envelope.

The hosted API takes times as ``yyyy-mm-ddThh:mm:ss`` (UTC) and also RFC 3339 (``Z`` or an
offset) and epoch milliseconds; clients send all three, so every endpoint parses them the same
way through ``UtcTimestamp``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator

_EPOCH_MS = re.compile(r"^-?\d+$")
TIME_FORMATS_HELP = "yyyy-mm-ddThh:mm:ss (UTC), RFC 3339 with Z or an offset, or epoch milliseconds"


def parse_time(value: Any) -> datetime:
    """A UTC-aware datetime from any accepted spelling; naive times are taken as UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        parsed = _from_epoch_ms(float(value))
    elif isinstance(value, str):
        text = value.strip()
        if _EPOCH_MS.match(text):
            parsed = _from_epoch_ms(float(text))
        else:
            if text[-1:] in {"Z", "z"}:
                text = text[:-1] + "+00:00"
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"invalid time {value!r}: expected {TIME_FORMATS_HELP}") from None
    else:
        raise ValueError(f"invalid time {value!r}: expected {TIME_FORMATS_HELP}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime.min in UTC
        raise ValueError(f"time out of range: {value!r}") from None


def _from_epoch_ms(millis: float) -> datetime:
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"epoch milliseconds out of range: {millis:.0f}") from None


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (the hosted API's numeric time form)."""
    return int(moment.timestamp() * 1000)


UtcTimestamp = Annotated[datetime, BeforeValidator(parse_time)]
"""A datetime parameter or field that accepts every time spelling clients use."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: ``single_line`` as a JSON Schema pattern, for generated clients.
SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"


def single_line(value: str) -> str:
    """A name, e-mail, URL or id: no control character at all (NUL, tab, newline, escape...),
    stored in Unicode NFC so that one name has one spelling (see ``services.names``)."""
    found = _CONTROL.search(value)
    if found:
        char = found.group()
        shown = "NUL" if char == "\x00" else f"U+{ord(char):04X}"
        raise ValueError(f"must not contain control characters (found {shown})")
    return unicodedata.normalize("NFC", value)


SingleLine = Annotated[str, AfterValidator(single_line)]
"""Text that names or addresses something (names, e-mails, URLs): see :func:`single_line`.
Free-form text (descriptions, SQL) keeps tab and newline; the input guard
(``api.input_guard``) refuses the other control characters there."""

ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    """The paging envelope of v1 list endpoints; ``next_page``/``previous_page`` are full URLs."""

    items: list[ItemT]
    page: int
    items_per_page: int
    current_page_size: int
    total_items: int
    next_page: str | None
    previous_page: str | None
    account_id: str
    environment_id: str | None
