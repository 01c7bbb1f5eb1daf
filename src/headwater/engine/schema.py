"""Schema drift: reconcile the source columns with an existing target table.

``evolve`` adds new source columns to the target and applies widening type changes (a
narrower or incompatible change keeps the target type and is logged; values that do not fit
then fail the load with a message naming the column). ``freeze`` loads only the columns the
target already has. ``fail`` stops the job with a message naming every drifted column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from headwater.connectors.base import Column, MetadataColumns, Table, Target
from headwater.connectors.errors import SchemaDriftError

_METADATA = {MetadataColumns.LOADED_AT, MetadataColumns.LOAD_ID}


@dataclass(frozen=True)
class DriftDecision:
    columns: tuple[Column, ...]
    add: tuple[Column, ...] = ()
    widen: tuple[Column, ...] = ()


def reconcile(
    source_columns: Sequence[Column],
    existing: Table | None,
    target: Target,
    *,
    policy: str,
    method: str,
    what: str,
    warn: Callable[[str], None],
) -> DriftDecision:
    if existing is None:
        return DriftDecision(tuple(source_columns))
    new = [c for c in source_columns if existing.column(c.name) is None and c.name not in _METADATA]
    changed: list[tuple[Column, Column]] = []
    for column in source_columns:
        current = existing.column(column.name)
        if current is not None and target.type_for(column) != current.source_type:
            changed.append((column, current))
    if policy == "fail" and (new or changed):
        parts = []
        if new:
            parts.append("new column(s) " + ", ".join(f"{c.name!r}" for c in new))
        if changed:
            parts.append(
                "changed type(s) "
                + ", ".join(
                    f"{c.name!r} ({cur.source_type} -> {target.type_for(c)})" for c, cur in changed
                )
            )
        raise SchemaDriftError(f"{what}: schema drift with policy 'fail': {'; '.join(parts)}")
    if policy == "freeze":
        keep = tuple(c for c in source_columns if existing.column(c.name) is not None)
        if new:
            warn(
                f"{what}: ignoring new source column(s) {', '.join(c.name for c in new)} "
                "(schema drift policy 'freeze')"
            )
        return DriftDecision(keep)
    if method == "overwrite":
        return DriftDecision(tuple(source_columns))
    widen: list[Column] = []
    for column, current in changed:
        if is_widening(current, column):
            widen.append(column)
        else:
            warn(
                f"{what}: column {column.name!r} changed from {current.source_type} to "
                f"{target.type_for(column)}; keeping the target type"
            )
    return DriftDecision(tuple(source_columns), tuple(new), tuple(widen))


def is_widening(old: Column, new: Column) -> bool:
    """Whether every value of ``old``'s type fits ``new``'s type (so ALTER is safe)."""
    a, b = old.arrow_type, new.arrow_type
    types = pa.types
    if types.is_integer(a) and types.is_integer(b):
        if types.is_signed_integer(a) and types.is_unsigned_integer(b):
            return False
        if types.is_unsigned_integer(a) and types.is_signed_integer(b):
            return bool(b.bit_width > a.bit_width)
        return bool(b.bit_width > a.bit_width)
    if types.is_integer(a) and types.is_decimal(b):
        digits = len(str(2**a.bit_width))
        return bool(b.precision - b.scale >= digits)
    if types.is_floating(a) and types.is_floating(b):
        return bool(b.bit_width > a.bit_width)
    if types.is_decimal(a) and types.is_decimal(b):
        return bool(b.scale >= a.scale and b.precision - b.scale >= a.precision - a.scale)
    if _is_text(a) and _is_text(b) and old.semantic is None and new.semantic is None:
        if new.max_length is None:
            return old.max_length is not None
        return old.max_length is not None and new.max_length > old.max_length
    return False


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))
