"""Identity partitions of Delta tables written by the Delta loader's own Parquet parts.

Delta partitions by column value only (no transforms): a partitioned table's data files live in
``col=value/`` folders, hold every column but the partition columns, and the log's add action
carries each file's ``partitionValues`` as strings. Partition columns are limited to types whose
string form is unambiguous (integers, strings, dates, booleans).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.errors import ConfigurationError
from headwater.connectors.partitioning import parse_partition_field

#: The folder name Delta (and Hive) give a null partition value.
NULL_FOLDER = "__HIVE_DEFAULT_PARTITION__"

PartitionKey = tuple[str | None, ...]


def delta_partition_columns(fields: Sequence[str], schema: pa.Schema, what: str) -> list[str]:
    """The columns of ``partition_by`` fields, refused unless each is a plain column of a type
    Delta can partition by."""
    columns = []
    for text in fields:
        field = parse_partition_field(text, f"{what}: partition_by")
        if field.transform != "identity":
            raise ConfigurationError(
                f"{what}: Delta partitions by column value only; {text!r} is a transform "
                "(use the column name)"
            )
        if field.column not in schema.names:
            raise ConfigurationError(
                f"{what}: partition_by column {field.column!r} is not among the loaded columns"
            )
        arrow_type = schema.field(field.column).type
        if not _partitionable(arrow_type):
            raise ConfigurationError(
                f"{what}: Delta cannot partition by {field.column!r} of type {arrow_type}; "
                "use an integer, string, date or boolean column"
            )
        columns.append(field.column)
    return list(dict.fromkeys(columns))


#: Types whose partition value text is unambiguous.
_PARTITIONABLE = (
    pa.types.is_integer,
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_date32,
    pa.types.is_boolean,
)


def _partitionable(arrow_type: pa.DataType) -> bool:
    return any(test(arrow_type) for test in _PARTITIONABLE)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def folder(columns: Sequence[str], key: PartitionKey) -> str:
    """``a=1/b=x`` for a partition, values escaped so a value never makes a path."""
    return "/".join(
        f"{quote(c, safe='')}={NULL_FOLDER if v is None else quote(v, safe='')}"
        for c, v in zip(columns, key, strict=True)
    )


def split(
    batch: pa.RecordBatch, columns: Sequence[str]
) -> list[tuple[PartitionKey, pa.RecordBatch]]:
    """The rows of ``batch`` per partition, each without the partition columns."""
    table = pa.Table.from_batches([batch])
    keys = table.select(list(columns)).group_by(list(columns)).aggregate([]).to_pylist()
    rest = [n for n in batch.schema.names if n not in columns]
    out: list[tuple[PartitionKey, pa.RecordBatch]] = []
    for row in keys:
        mask = None
        for name in columns:
            value = row[name]
            column = table.column(name)
            test = pc.is_null(column) if value is None else pc.equal(column, value)
            test = pc.fill_null(test, False)
            mask = test if mask is None else pc.and_(mask, test)
        part = table.filter(mask).select(rest).combine_chunks()
        key = tuple(_text(row[name]) for name in columns)
        out.extend((key, b) for b in part.to_batches() if b.num_rows)
    return out
