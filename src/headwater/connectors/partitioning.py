"""The grammar of a river table's ``partition_by`` fields, shared by the API schema (one
regular expression, so the JSON Schema states the rule), the engine (which column a field reads)
and the targets that build a partition spec from it (Iceberg).

A field is a column name (identity), ``year(col)``, ``month(col)``, ``day(col)``,
``hour(col)``, ``bucket(N, col)`` or ``truncate(W, col)`` with ``N``/``W`` a positive integer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from headwater.connectors.errors import ConfigurationError

_COLUMN = r"[^(), ](?:[^(),]*[^(), ])?"
#: One partition field, as a JSON-Schema-compatible pattern (no flags, no lookarounds).
PARTITION_FIELD_PATTERN = (
    rf"^ *(?:{_COLUMN}|(?:year|month|day|hour)\( *{_COLUMN} *\)"
    rf"|(?:bucket|truncate)\( *[1-9][0-9]* *, *{_COLUMN} *\)) *$"
)
_FIELD = re.compile(PARTITION_FIELD_PATTERN)
_PARTS = re.compile(r"^ *(?:(\w+)\( *(?:([0-9]+) *, *)?(.+?) *\)|(.+?)) *$")
PARTITION_HELP = (
    "a column name, year(col), month(col), day(col), hour(col), bucket(N, col) or truncate(W, col)"
)


@dataclass(frozen=True)
class PartitionField:
    """``column`` partitioned by ``transform`` (``identity``, ``day``, ``bucket``...) with
    ``width`` for ``bucket``/``truncate``."""

    column: str
    transform: str = "identity"
    width: int | None = None

    @property
    def name(self) -> str:
        """The partition field's name in the spec (``created_at_day``, or the column)."""
        return self.column if self.transform == "identity" else f"{self.column}_{self.transform}"


def check_partition_field(text: str) -> str:
    """``text`` unchanged, or ValueError naming the field and the accepted forms."""
    if not _FIELD.match(text):
        raise ValueError(f"partition field {text!r} is not {PARTITION_HELP}")
    return text


def parse_partition_field(text: str, what: str = "partition_by") -> PartitionField:
    try:
        check_partition_field(text)
    except ValueError as exc:
        raise ConfigurationError(f"{what}: {exc}") from None
    match = _PARTS.match(text)
    assert match is not None  # the pattern above is stricter
    kind, width, column, plain = match.groups()
    if plain is not None:
        return PartitionField(plain)
    return PartitionField(column, kind, int(width) if width else None)


def partitioning_refusal(fields: Sequence[str], partitioning: str, target: str) -> str | None:
    """Why a target with ``Capabilities.partitioning`` cannot take ``fields``, or None."""
    if not fields or partitioning == "transforms":
        return None
    if partitioning == "none":
        return (
            f"partition_by needs a target that can partition tables (Iceberg, or Delta by "
            f"column), not {target}"
        )
    transforms = [f for f in fields if parse_partition_field(f).transform != "identity"]
    if transforms:
        return (
            f"partition_by on {target} takes column names only, not transforms: "
            f"{', '.join(repr(f) for f in transforms)}"
        )
    return None


def split_partition_text(text: str | None) -> list[str]:
    """Comma-separated fields (the Iceberg connection property, the console's text box) as a
    list; commas inside brackets (``bucket(16, id)``) stay in their field."""
    parts, depth, current = [], 0, ""
    for char in text or "":
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in [*parts, current] if p.strip()]


def partition_columns(fields: tuple[str, ...] | list[str]) -> list[str]:
    """The columns the fields read, in order, each once."""
    return list(dict.fromkeys(parse_partition_field(f).column for f in fields))
