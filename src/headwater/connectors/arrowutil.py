"""Arrow helpers shared by connectors: conforming driver output to catalogue types.

Drivers return close-but-not-identical Arrow types (extension types, other list field names,
strings where a decimal is meant). :func:`conform` casts every column to the type recorded in
the catalogue so that all batches of a read share one schema, and names the column when a
value cannot be carried.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.base import Column
from headwater.connectors.errors import ValueRejected


def schema_of(columns: Sequence[Column]) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.arrow_type, nullable=True) for c in columns])


def storage(array: pa.Array) -> pa.Array:
    """Drop extension wrappers (ADBC returns e.g. ``arrow.json`` over a string array)."""
    if isinstance(array.type, pa.ExtensionType) or isinstance(array, pa.ExtensionArray):
        return array.storage
    return array


def conform(batch: pa.RecordBatch, columns: Sequence[Column], where: str) -> pa.RecordBatch:
    """Cast the columns of ``batch`` (by position) to the catalogue types of ``columns``."""
    arrays = []
    for index, column in enumerate(columns):
        array = storage(batch.column(index))
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        if not array.type.equals(column.arrow_type):
            try:
                array = pc.cast(array, column.arrow_type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueRejected(
                    f"{where}: column {column.name!r} ({column.source_type}) has a value that "
                    f"cannot be carried as {column.arrow_type}: {exc}"
                ) from None
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema_of(columns))


def batch_bytes(batch: pa.RecordBatch) -> int:
    """Bytes a batch occupies, the unit of progress and metering for Arrow copies."""
    return int(batch.get_total_buffer_size())


def rows_for_bytes(row_bytes: int, batch_bytes_target: int) -> int:
    """Rows per fetch so that a batch is about ``batch_bytes_target`` bytes."""
    return max(1_000, min(1_000_000, batch_bytes_target // max(row_bytes, 1)))


def estimated_row_bytes(columns: Sequence[Column]) -> int:
    """A rough width of a row from its column types, to size fetches before any data is seen."""
    total = 0
    for column in columns:
        arrow_type = column.arrow_type
        if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            total += min(column.max_length or 32, 256) + 4
        elif pa.types.is_binary(arrow_type) or pa.types.is_list(arrow_type):
            total += 64
        else:
            try:
                total += max(arrow_type.bit_width // 8, 1)
            except ValueError:
                total += 16
    return max(total, 8)
