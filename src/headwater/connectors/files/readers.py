"""Raw batches and schemas per file format, decompressing on the fly, in bounded memory.

CSV and JSON Lines go through pyarrow's streaming readers (one block at a time); a JSON array
(``[{...}, {...}]``) is parsed element by element with ``raw_decode`` so a large array never
has to fit in memory; Parquet is read a bounded number of rows at a time. Compression is
pyarrow's (gzip, zstd, bz2), chosen by option or by the file's extension.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from headwater.connectors.errors import ConfigurationError, ValueRejected
from headwater.connectors.files import csvread
from headwater.connectors.files.fs import FileInfo, Storage
from headwater.connectors.files.options import FileOptions
from headwater.connectors.files.shape import infer_from_records

LogFn = Callable[[str, str], None]
_EXTENSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_FORMATS.update({".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"})
_SAMPLE_RECORDS = 1000
_JSON_CHUNK = 1 << 20


def codec_for(name: str, options: FileOptions) -> str | None:
    if options.compression == "none":
        return None
    if options.compression != "auto":
        return options.compression
    lower = name.lower()
    return next((codec for ext, codec in _EXTENSIONS.items() if lower.endswith(ext)), None)


def format_for(name: str, options: FileOptions) -> str:
    if options.file_format:
        return options.file_format
    lower = name.lower()
    for ext in _EXTENSIONS:
        lower = lower.removesuffix(ext)
    for ext, fmt in _FORMATS.items():
        if lower.endswith(ext):
            return fmt
    raise ConfigurationError(
        f"cannot tell the format of {name!r}: set details.file_format (csv, jsonl or parquet)"
    )


class _Closing:
    """A decompressed stream that also closes the underlying file handle."""

    def __init__(self, handle: Any, codec: str | None) -> None:
        self.handle = handle
        self.stream: Any = (
            pa.CompressedInputStream(pa.PythonFile(handle, mode="r"), codec) if codec else handle
        )

    closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        return bytes(self.stream.read(size) if size >= 0 else self.stream.read())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.stream is not self.handle:
                self.stream.close()
        finally:
            self.handle.close()


def opener(storage: Storage, info: FileInfo, options: FileOptions) -> Callable[[], Any]:
    codec = codec_for(info.name, options)
    return lambda: _Closing(storage.open(info.path), codec)


def _is_json_array(open_raw: Callable[[], Any]) -> bool:
    raw = open_raw()
    try:
        head = bytes(raw.read(4096)).lstrip(codecs.BOM_UTF8).lstrip()
    finally:
        raw.close()
    return bool(head.startswith(b"["))


def raw_schema(storage: Storage, info: FileInfo, options: FileOptions, where: str) -> pa.Schema:
    """The schema of one file as the format infers it (before overrides and reshaping)."""
    fmt = format_for(info.name, options)
    open_raw = opener(storage, info, options)
    try:
        with storage.errors(info.name):
            if fmt == "csv":
                overrides = {k: v[0] for k, v in options.overrides.items()}
                return csvread.infer_schema(open_raw, options.csv, overrides)
            if fmt == "parquet":
                with storage.open(info.path) as handle:
                    return pq.ParquetFile(handle).schema_arrow
            if _is_json_array(open_raw):
                records = []
                for record in _json_array(open_raw, where):
                    records.append(record)
                    if len(records) >= _SAMPLE_RECORDS:
                        break
                return infer_from_records(records)
            raw = open_raw()
            try:
                reader = pajson.open_json(
                    pa.PythonFile(raw, mode="r"), read_options=pajson.ReadOptions(use_threads=False)
                )
                schema = reader.schema
                reader.close()
                return schema
            finally:
                raw.close()
    except pa.ArrowInvalid as exc:
        raise ValueRejected(f"{where}: not valid {fmt}: {exc}") from None


def raw_batches(
    storage: Storage,
    info: FileInfo,
    options: FileOptions,
    schema: pa.Schema,
    block_size: int,
    where: str,
    log: LogFn,
) -> Iterator[pa.RecordBatch]:
    """Batches of one file, typed by ``schema`` where the format allows it."""
    fmt = format_for(info.name, options)
    open_raw = opener(storage, info, options)
    with storage.errors(info.name):
        if fmt == "csv":
            types = {f.name: f.type for f in schema}
            yield from csvread.read_batches(open_raw, options.csv, types, block_size, where, log)
        elif fmt == "parquet":
            yield from _parquet(storage, info, block_size)
        elif _is_json_array(open_raw):
            yield from _json_array_batches(open_raw, schema, block_size, where)
        else:
            yield from _jsonl(open_raw, schema, block_size, where)


def _parquet(storage: Storage, info: FileInfo, block_size: int) -> Iterator[pa.RecordBatch]:
    with storage.open(info.path) as handle:
        parquet = pq.ParquetFile(handle)
        meta = parquet.metadata
        row_bytes = 64
        if meta.num_rows:
            total = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            row_bytes = max(total // meta.num_rows, 1)
        rows = max(1_000, min(1_000_000, block_size // row_bytes))
        yield from parquet.iter_batches(batch_size=rows, use_threads=False)


def _jsonl(
    open_raw: Callable[[], Any], schema: pa.Schema, block_size: int, where: str
) -> Iterator[pa.RecordBatch]:
    raw = open_raw()
    reader: Any = None
    try:
        reader = pajson.open_json(
            pa.PythonFile(raw, mode="r"),
            read_options=pajson.ReadOptions(use_threads=False, block_size=max(block_size, 1 << 20)),
            parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
        yield from reader
    except pa.ArrowInvalid as exc:
        raise ValueRejected(f"{where}: invalid JSON Lines data: {exc}") from None
    finally:
        if reader is not None:
            reader.close()
        raw.close()


def _json_array(open_raw: Callable[[], Any], where: str) -> Iterator[Any]:
    """Elements of a top-level JSON array, decoded one at a time from a chunked stream."""
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8-sig")()
    raw = open_raw()
    buffer, pos, eof = "", 0, False

    def more() -> bool:
        nonlocal buffer, pos, eof
        if eof:
            return False
        chunk = raw.read(_JSON_CHUNK)
        eof = not chunk
        buffer = buffer[pos:] + utf8.decode(chunk, final=eof)
        pos = 0
        return True

    def next_char(skip: str) -> str | None:
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in skip:
                pos += 1
            if pos < len(buffer):
                return buffer[pos]
            if not more():
                return None

    try:
        if next_char(" \t\r\n") != "[":
            raise ValueRejected(f"{where}: expected a JSON array")
        pos += 1
        while True:
            char = next_char(" \t\r\n,")
            if char is None:
                raise ValueRejected(f"{where}: the JSON array is not closed")
            if char == "]":
                return
            while True:
                try:
                    value, end = decoder.raw_decode(buffer, pos)
                except json.JSONDecodeError as exc:
                    if not more():
                        raise ValueRejected(f"{where}: invalid JSON: {exc}") from None
                    continue
                if end < len(buffer) or not more():  # a number may go on in the next chunk
                    break
            pos = end
            yield value
    finally:
        raw.close()


def _json_array_batches(
    open_raw: Callable[[], Any], schema: pa.Schema, block_size: int, where: str
) -> Iterator[pa.RecordBatch]:
    records: list[Any] = []
    size = 0
    for record in _json_array(open_raw, where):
        if not isinstance(record, dict):
            raise ValueRejected(f"{where}: array elements must be JSON objects")
        records.append(record)
        size += 16 * len(record)
        if size >= block_size:
            yield _records_batch(records, schema, where)
            records, size = [], 0
    if records:
        yield _records_batch(records, schema, where)


def _records_batch(records: list[Any], schema: pa.Schema, where: str) -> pa.RecordBatch:
    try:
        return pa.RecordBatch.from_pylist(records, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueRejected(f"{where}: {exc}; declare the column types in source_options") from None
