"""What the Iceberg and Delta connectors share: storage locations, column types, state text.

Types: both formats store Parquet, so a column is kept in the Arrow type the source declares,
normalised to what the format has (unsigned integers widened, large types made plain). A
meaning Arrow has no type for (``json``, ``uuid``, exact ``decimal`` text, ``enum``) is kept
as a string plus a note in the table's own metadata (Iceberg table properties, Delta column
metadata), so reading the table back gives the same semantic and a round trip to PostgreSQL
recreates ``jsonb``, ``uuid`` or ``numeric``. Intervals have no type in either format and are
refused naming the column, as for Parquet files.

State: the incremental cursor of a load is JSON text in the commit that publishes its rows
(Iceberg snapshot summary, Delta commit info), under ``headwater.state.<sha1 of the key>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.base import Column, CursorState, MetadataColumns
from headwater.connectors.errors import (
    ConfigurationError,
    ConnectionFailed,
    ConnectorError,
    LoadFailed,
    ValueRejected,
)
from headwater.connectors.localpath import checked_path
from headwater.connectors.values import decode_cursor, encode_cursor

DIALECT = "lakehouse"
STATE_PREFIX = "headwater.state."
LOAD_ID_PROPERTY = "headwater.load_id"
SEMANTIC_KEY = "headwater.semantic"
METADATA_TYPES = {
    MetadataColumns.LOADED_AT: pa.timestamp("us", tz="UTC"),
    MetadataColumns.LOAD_ID: pa.string(),
}


# -- where the data lives ---------------------------------------------------------------------


def is_s3(location: str) -> bool:
    return location.lower().startswith(("s3://", "s3a://"))


def checked_location(value: str, what: str) -> str:
    """``value`` as the URI to write to: an ``s3://`` URI as is, a local folder checked by the
    local-path rule (never the data dir, symlinks resolved) and created."""
    text = str(value).strip()
    if is_s3(text):
        return "s3://" + text.split("://", 1)[1].strip("/")
    if "://" in text:
        raise ConfigurationError(f"{what}: {text!r} is neither a local folder nor s3://...")
    real = checked_path(text, what)
    os.makedirs(real, exist_ok=True)
    return real


def s3_options(props: Mapping[str, Any]) -> dict[str, str]:
    """The S3 connection properties as ``name: value`` of the non-empty ones."""
    names = ("endpoint_url", "region", "access_key_id", "secret_access_key")
    return {name: str(props[name]) for name in names if props.get(name)}


# -- errors -----------------------------------------------------------------------------------


@contextlib.contextmanager
def classified(
    what: str, name: str, specific: Sequence[tuple[Any, Callable[[Exception], ConnectorError]]]
) -> Iterator[None]:
    """Library failures as classified connector errors naming ``what`` and ``name``:
    ``specific`` maps a library's exception types first, then network errors are transient
    and anything else from the library or the storage fails the load."""
    try:
        yield
    except ConnectorError:
        raise
    except Exception as exc:
        for types, make in specific:
            if isinstance(exc, types):
                raise make(exc) from None
        if isinstance(exc, ConnectionError | TimeoutError):
            raise ConnectionFailed(f"{what}: {name}: {exc}") from None
        if isinstance(exc, OSError | ValueError):
            raise LoadFailed(f"{what}: {name}: {exc}") from None
        raise


# -- column types -----------------------------------------------------------------------------


def storage_type(column: Column, what: str) -> pa.DataType:
    """The Arrow type a column is stored as (see the module docstring)."""
    return _storage(column.arrow_type, column.name, what)


def _storage(arrow_type: pa.DataType, name: str, what: str) -> pa.DataType:
    types = pa.types
    if types.is_interval(arrow_type) or types.is_duration(arrow_type):
        raise ConfigurationError(
            f"{what}: column {name!r}: interval values have no Parquet, Iceberg or Delta type; "
            "leave the column out or cast it to text in a source query"
        )
    if types.is_uint8(arrow_type):
        return pa.int16()
    if types.is_uint16(arrow_type):
        return pa.int32()
    if types.is_uint32(arrow_type):
        return pa.int64()
    if types.is_uint64(arrow_type):
        return pa.decimal128(20, 0)
    if types.is_float16(arrow_type):
        return pa.float32()
    if types.is_large_string(arrow_type) or types.is_dictionary(arrow_type):
        return pa.string()
    if types.is_large_binary(arrow_type):
        return pa.binary()
    if types.is_timestamp(arrow_type):
        return pa.timestamp("us", tz="UTC" if arrow_type.tz else None)
    if types.is_time(arrow_type):
        return pa.time64("us")
    if types.is_date64(arrow_type):
        return pa.date32()
    if types.is_decimal(arrow_type) and arrow_type.precision > 38:
        raise ConfigurationError(
            f"{what}: column {name!r}: decimal precision {arrow_type.precision} is over 38"
        )
    if types.is_list(arrow_type) or types.is_large_list(arrow_type):
        return pa.list_(_storage(arrow_type.value_type, name, what))
    return arrow_type


def storage_fields(
    columns: Sequence[Column], with_metadata: bool, what: str
) -> list[tuple[pa.Field, str | None]]:
    """``(field, semantic)`` per loaded column, metadata columns last when the load adds them."""
    fields = [(pa.field(c.name, storage_type(c, what)), c.semantic) for c in columns]
    if with_metadata:
        fields += [(pa.field(n, t), None) for n, t in METADATA_TYPES.items()]
    return fields


def column_for(field: pa.Field, semantic: str | None, type_text: str) -> Column:
    """A catalogue column for a stored field (``type_text``: the format's own type name)."""
    return Column(
        name=field.name,
        source_type=type_text if semantic is None else f"{type_text} ({semantic})",
        arrow_type=field.type,
        semantic=semantic,
        dialect=DIALECT,
        precision=field.type.precision if pa.types.is_decimal(field.type) else None,
        scale=field.type.scale if pa.types.is_decimal(field.type) else None,
    )


def conform_to(batch: pa.RecordBatch, schema: pa.Schema, what: str) -> pa.RecordBatch:
    """``batch`` with the columns of ``schema`` (by name; absent ones null), cast to its types;
    a value that does not fit names its column."""
    arrays = []
    names = batch.schema.names
    for field in schema:
        if field.name not in names:
            arrays.append(pa.nulls(batch.num_rows, field.type))
            continue
        array = batch.column(names.index(field.name))
        if isinstance(array.type, pa.ExtensionType):
            array = array.storage
        if not array.type.equals(field.type):
            try:
                array = pc.cast(array, field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise ValueRejected(
                    f"{what}: column {field.name!r}: a value does not fit {field.type} ({exc})"
                ) from None
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def with_metadata(batch: pa.RecordBatch, metadata: MetadataColumns | None) -> pa.RecordBatch:
    if metadata is None:
        return batch
    rows = batch.num_rows
    arrays = [
        *batch.columns,
        pa.array([metadata.loaded_at] * rows, METADATA_TYPES[MetadataColumns.LOADED_AT]),
        pa.array([metadata.load_id] * rows, pa.string()),
    ]
    names = [*batch.schema.names, *METADATA_TYPES]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def rechunk(batches: Iterable[pa.RecordBatch], batch_bytes: int) -> Iterator[pa.RecordBatch]:
    """Batches of about ``batch_bytes`` each from a reader's batches of any size."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        rows_per = max(1, int(batch.num_rows * batch_bytes / max(batch.nbytes, 1)))
        for start in range(0, batch.num_rows, rows_per):
            piece = batch.slice(start, rows_per)
            pending.append(piece)
            size += piece.nbytes
            if size >= batch_bytes:
                yield from pa.Table.from_batches(pending).combine_chunks().to_batches()
                pending, size = [], 0
    if pending:
        yield from pa.Table.from_batches(pending).combine_chunks().to_batches()


# -- incremental state ------------------------------------------------------------------------


def state_property(state_key: str) -> str:
    return STATE_PREFIX + hashlib.sha1(state_key.encode()).hexdigest()


def state_text(state: CursorState) -> str:
    text, kind = encode_cursor(state.value)
    return json.dumps(
        {
            "state_key": state.state_key,
            "value": text,
            "kind": kind,
            "load_id": state.load_id,
            "updated_at": datetime.now(UTC).isoformat(),
            "boundary": None if state.boundary is None else list(state.boundary),
        },
        separators=(",", ":"),
    )


def parse_state(text: str, state_key: str) -> CursorState | None:
    data = json.loads(text)
    if data.get("state_key") != state_key:
        return None
    return CursorState(
        state_key,
        decode_cursor(data["value"], data["kind"]),
        data["kind"],
        data["load_id"],
        datetime.fromisoformat(data["updated_at"]),
        boundary=None if data.get("boundary") is None else tuple(data["boundary"]),
    )


def commit_properties(state: CursorState | None, load_id: str) -> dict[str, str]:
    """What a load's commit records beside its files: the load id and the cursor state."""
    props = {LOAD_ID_PROPERTY: load_id}
    if state is not None:
        props[state_property(state.state_key)] = state_text(state)
    return props


def state_candidates(state_key: str, schema: str | None, tables: Iterable[str]) -> list[str]:
    """Tables that may hold ``state_key``: the one its default form names first, then all."""
    prefixed = bool(schema) and state_key.startswith(f"{schema}.")
    guess = state_key[len(f"{schema}.") :] if prefixed else state_key
    ordered = [guess]
    ordered += [t for t in tables if t != guess]
    return [t for t in ordered if t]
