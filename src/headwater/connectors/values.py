"""Cursor values: typed, full-precision text encoding and maxima over Arrow data.

Incremental state must survive a round trip through a text column without losing the
microseconds or the time zone of a timestamp, or the digits of a decimal. The ``kind`` stored
next to the text says how to read it back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.base import CursorState
from headwater.connectors.errors import ConfigurationError

CURSOR_KINDS = ("timestamptz", "timestamp", "date", "integer", "decimal", "float", "string")


def encode_cursor(value: Any) -> tuple[str, str]:
    """``value`` as ``(text, kind)``; timestamps keep microseconds and their UTC offset."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.isoformat(timespec="microseconds"), "timestamptz"
        return value.isoformat(timespec="microseconds"), "timestamp"
    if isinstance(value, date):
        return value.isoformat(), "date"
    if isinstance(value, bool):
        raise ConfigurationError("a boolean column cannot be used as an incremental cursor")
    if isinstance(value, int):
        return str(value), "integer"
    if isinstance(value, Decimal):
        return format(value, "f"), "decimal"
    if isinstance(value, float):
        return repr(value), "float"
    if isinstance(value, str):
        return value, "string"
    raise ConfigurationError(f"unsupported cursor value type {type(value).__name__}")


def decode_cursor(text: str, kind: str) -> Any:
    """Inverse of :func:`encode_cursor`."""
    try:
        if kind in ("timestamptz", "timestamp"):
            return datetime.fromisoformat(text)
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "integer":
            return int(text)
        if kind == "decimal":
            return Decimal(text)
        if kind == "float":
            return float(text)
        if kind == "string":
            return text
    except (ValueError, InvalidOperation) as exc:
        raise ConfigurationError(f"invalid {kind} cursor value {text!r}: {exc}") from None
    raise ConfigurationError(f"unknown cursor kind {kind!r}")


def parse_start_value(text: str, cursor_type: str) -> Any:
    """A job's configured start value, read according to its cursor type.

    ``timestamp`` accepts ISO 8601 with or without offset, ``date`` ``YYYY-MM-DD``, ``number``
    and ``epoch`` an integer or a decimal, ``string`` is taken as is (file names, opaque API
    cursors that sort as text).
    """
    try:
        if cursor_type == "timestamp":
            return datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if cursor_type == "date":
            return date.fromisoformat(text.strip())
        if cursor_type == "string":
            return text
        if cursor_type in ("number", "epoch"):
            stripped = text.strip()
            return int(stripped) if stripped.lstrip("-").isdigit() else Decimal(stripped)
    except (ValueError, InvalidOperation) as exc:
        raise ConfigurationError(
            f"start value {text!r} is not a valid {cursor_type}: {exc}"
        ) from None
    raise ConfigurationError(f"unknown cursor type {cursor_type!r}")


def arrow_max(array: pa.Array | pa.ChunkedArray, semantic: str | None = None) -> Any:
    """Maximum of a column as a Python value at full precision (``None`` when all null)."""
    if len(array) == 0:
        return None
    if semantic == "decimal" and pa.types.is_string(array.type):
        values = [Decimal(v) for v in array.to_pylist() if v is not None]
        return max(values) if values else None
    if pa.types.is_timestamp(array.type) and array.type.unit == "ns":
        array = pc.cast(array, pa.timestamp("us", array.type.tz), safe=False)
    return pc.max(array).as_py()


def later(a: Any, b: Any) -> Any:
    """The larger of two cursor values where either may be ``None``."""
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


def normalise_cursor(value: Any) -> Any:
    """Bring driver values to the types :func:`encode_cursor` knows (e.g. ``time`` is refused)."""
    if isinstance(value, time):
        raise ConfigurationError("a time-of-day column cannot be used as an incremental cursor")
    return value


def encode_boundary(boundary: Sequence[str] | None) -> str | None:
    """Boundary fingerprints as JSON text for the state table (``None`` stays NULL)."""
    return None if boundary is None else json.dumps(list(boundary))


def decode_boundary(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(str(item) for item in json.loads(text))


def stored_state(
    state_key: str, row: Sequence[Any] | None, *, with_updated_at: bool = True
) -> CursorState | None:
    """A database target's state row ``(cursor_value, cursor_type, load_id, updated_at,
    boundary)`` decoded; ``None`` when there is no row or no value yet. ``with_updated_at``
    false leaves ``updated_at`` out (SQLite keeps it as text)."""
    if row is None or row[0] is None:
        return None
    return CursorState(
        state_key,
        decode_cursor(row[0], row[1]),
        row[1],
        row[2],
        row[3] if with_updated_at else None,
        decode_boundary(row[4]),
    )
