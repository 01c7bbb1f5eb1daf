"""Streaming CSV with invalid rows reported by line number, never silently dropped.

pyarrow's streaming CSV reader does the parsing and type conversion in bounded memory. In
front of it, :class:`CheckedStream` transcodes to UTF-8 and validates it a megabyte at a time
(a C-speed ``decode`` of whole lines, so valid files pay almost nothing). A record with bytes
that are not valid in the file's encoding is replaced by a marker row with too many fields, so
pyarrow reports it through the same invalid-row hook as a row with a wrong field count, and
record numbers stay those of the original file. pyarrow numbers records, not physical lines:
when a file has invalid rows, one more pass maps record numbers to line numbers (quoted values
with embedded newlines make them differ). ``on_invalid_rows`` is ``fail`` (the run fails
naming the first invalid line) or ``skip_and_log`` (each skipped line goes to the run log).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv

from headwater.connectors.errors import ConfigurationError, ValueRejected

InvalidPolicy = Literal["fail", "skip_and_log"]
LogFn = Callable[[str, str], None]

_CHUNK = 1 << 20
_MARKER = b"\x01hw-invalid-encoding"
_BOM = codecs.BOM_UTF8
_MAX_LOGGED = 100
_MAX_TEXT = 120


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    quote_char: str | None = '"'
    escape_char: str | None = None
    header: bool = True
    column_names: tuple[str, ...] = ()
    encoding: str = "utf-8"
    skip_rows: int = 0
    null_values: tuple[str, ...] | None = None
    on_invalid_rows: InvalidPolicy = "fail"

    def __post_init__(self) -> None:
        if len(self.delimiter) != 1:
            raise ConfigurationError("csv delimiter must be one character")
        try:
            info = codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigurationError(f"unknown encoding {self.encoding!r}") from None
        if "\n".encode(info.name) != b"\n":
            raise ConfigurationError(f"encoding {self.encoding!r} is not ASCII-compatible")


class CheckedStream:
    """A read-only byte stream yielding UTF-8 with invalid records replaced by marker rows."""

    def __init__(self, raw: Any, options: CsvOptions) -> None:
        self.raw = raw
        self.encoding = codecs.lookup(options.encoding).name
        self.quote = options.quote_char.encode() if options.quote_char else b""
        self.escaped = ((options.escape_char or "") + (options.quote_char or "")).encode()
        self.delimiter = options.delimiter.encode()
        self.fields_hint = 0
        self.in_quotes = False
        self.started = False
        self.pending = b""
        self.out = bytearray()
        self.out_pos = 0
        self.eof = False
        self.position = 0
        self.closed = False

    # io protocol used by pyarrow.PythonFile
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self.closed = True

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else 1 << 62
        while len(self.out) - self.out_pos < want and not self.eof:
            self._fill()
        end = min(len(self.out), self.out_pos + want)
        data = bytes(self.out[self.out_pos : end])
        self.out_pos = end
        if self.out_pos > _CHUNK:
            del self.out[: self.out_pos]
            self.out_pos = 0
        self.position += len(data)
        return data

    def _quotes(self, data: bytes) -> int:
        if not self.quote:
            return 0
        count = data.count(self.quote)
        return count - data.count(self.escaped) if len(self.escaped) > 1 else count

    def _fill(self) -> None:
        chunk = self.raw.read(_CHUNK)
        if not chunk:
            self.eof = True
            data, self.pending = self.pending, b""
        else:
            data = self.pending + bytes(chunk)
            if not self.started:
                if len(data) < len(_BOM) and not self.eof:
                    self.pending = data
                    return
                if data.startswith(_BOM):
                    data = data[len(_BOM) :]
            cut = data.rfind(b"\n") + 1
            data, self.pending = data[:cut], data[cut:]
        if not data:
            return
        if not self.started:
            self.started = True
            first = data.split(b"\n", 1)[0]
            self.fields_hint = first.count(self.delimiter) + 1
        try:
            text = data.decode(self.encoding)
        except UnicodeDecodeError:
            self._slow(data)
            return
        self.out += data if self.encoding == "utf-8" else text.encode()
        self.in_quotes ^= self._quotes(data) % 2 == 1

    def _slow(self, data: bytes) -> None:
        """Per-record decoding of a chunk that failed as a whole (rare, Python speed)."""
        record: list[bytes] = []
        for line in data.splitlines(keepends=True):
            record.append(line)
            self.in_quotes ^= self._quotes(line) % 2 == 1
            if self.in_quotes and line.endswith(b"\n"):
                continue
            self._emit_record(b"".join(record))
            record = []
        if record:
            self._emit_record(b"".join(record))

    def _emit_record(self, record: bytes) -> None:
        try:
            text = record.decode(self.encoding)
        except UnicodeDecodeError:
            marker = _MARKER + self.delimiter * max(self.fields_hint, 1)
            self.out += marker + (b"\n" if record.endswith(b"\n") else b"")
            return
        self.out += record if self.encoding == "utf-8" else text.encode()


@dataclass
class InvalidRows:
    """Collects invalid rows of one file as pyarrow reports them (record numbers)."""

    policy: InvalidPolicy
    rows: list[tuple[int, str, str]] = field(default_factory=list)
    count: int = 0

    def handler(self, row: Any) -> str:
        self.count += 1
        text = str(row.text or "")
        if text.startswith(_MARKER.decode()):
            reason, text = "bytes that are not valid in the file's encoding", ""
        else:
            reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        if len(self.rows) < _MAX_LOGGED or self.policy == "fail":
            self.rows.append((int(row.number or 0), reason, text[:_MAX_TEXT]))
        return "error" if self.policy == "fail" else "skip"


def _open_stream(open_raw: Callable[[], Any], options: CsvOptions) -> CheckedStream:
    return CheckedStream(open_raw(), options)


def _parse_options(options: CsvOptions, invalid: InvalidRows | None) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(
        delimiter=options.delimiter,
        quote_char=options.quote_char or False,
        escape_char=options.escape_char or False,
        double_quote=options.escape_char is None,
        newlines_in_values=True,
        invalid_row_handler=invalid.handler if invalid is not None else _skip,
    )


def _skip(row: Any) -> str:
    return "skip"


def _read_options(
    options: CsvOptions, block_size: int, *, threads: bool = False
) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(
        use_threads=threads,
        block_size=block_size,
        skip_rows=options.skip_rows,
        column_names=list(options.column_names) or None,
        autogenerate_column_names=not options.header and not options.column_names,
    )


def _convert_options(
    options: CsvOptions, column_types: dict[str, pa.DataType] | None
) -> pacsv.ConvertOptions:
    kwargs: dict[str, Any] = {"column_types": column_types or {}}
    if options.null_values is not None:
        kwargs["null_values"] = list(options.null_values)
        kwargs["strings_can_be_null"] = True
    return pacsv.ConvertOptions(**kwargs)


def infer_schema(
    open_raw: Callable[[], Any], options: CsvOptions, overrides: dict[str, pa.DataType]
) -> pa.Schema:
    """The schema pyarrow infers from the first block (invalid rows ignored for inference)."""
    stream = _open_stream(open_raw, options)
    try:
        reader = pacsv.open_csv(
            pa.PythonFile(stream, mode="r"),
            read_options=_read_options(options, 1 << 20),
            parse_options=_parse_options(options, None),
            convert_options=_convert_options(options, overrides),
        )
        schema = reader.schema
        reader.close()
        return schema
    finally:
        stream.raw.close()


def read_batches(
    open_raw: Callable[[], Any],
    options: CsvOptions,
    column_types: dict[str, pa.DataType],
    block_size: int,
    where: str,
    log: LogFn,
) -> Iterator[pa.RecordBatch]:
    """Batches of one CSV file; invalid rows fail the read or are logged with line numbers.

    Under ``fail`` the blocks are parsed on all cores: pyarrow only numbers invalid rows when
    it parses serially, so the first invalid one is located by a serial re-read, which only a
    failing file pays. ``skip_and_log`` reports every skipped row, so it parses serially.
    """
    threads = options.on_invalid_rows == "fail"
    try:
        yield from _read(open_raw, options, column_types, block_size, where, log, threads)
    except _InvalidRowsFound:
        # the parallel read saw an invalid row without its number: find it serially
        for _ in _read(open_raw, options, column_types, block_size, where, log, False):
            pass
        # unreachable: the serial read raises on the same row, with its line number
        raise ValueRejected(f"{where}: invalid row; see source_options.on_invalid_rows") from None


class _InvalidRowsFound(Exception):
    """A threaded read hit an invalid row; pyarrow does not number rows in that mode."""


def _read(
    open_raw: Callable[[], Any],
    options: CsvOptions,
    column_types: dict[str, pa.DataType],
    block_size: int,
    where: str,
    log: LogFn,
    threads: bool,
) -> Iterator[pa.RecordBatch]:
    invalid = InvalidRows(options.on_invalid_rows)
    stream = _open_stream(open_raw, options)
    reader: Any = None
    try:
        reader = pacsv.open_csv(
            pa.PythonFile(stream, mode="r"),
            read_options=_read_options(options, block_size, threads=threads),
            parse_options=_parse_options(options, invalid),
            convert_options=_convert_options(options, column_types),
        )
        yield from reader
    except pa.ArrowInvalid as exc:
        if invalid.policy == "fail" and invalid.rows:
            if threads:
                raise _InvalidRowsFound from None
            number, reason, text = invalid.rows[-1]
            line = physical_lines(open_raw, options, [number]).get(number, number)
            raise ValueRejected(
                f"{where} line {line}: invalid row ({reason}){_quote(text)}; set the "
                "table's source_options.on_invalid_rows to skip_and_log to skip such rows"
            ) from None
        raise ValueRejected(
            f"{where}: {exc}; declare the column's type in the table's "
            "source_options.columns (e.g. string)"
        ) from None
    finally:
        if reader is not None:
            reader.close()
        stream.raw.close()
    if invalid.count:
        lines = physical_lines(open_raw, options, [n for n, _, _ in invalid.rows])
        for number, reason, text in invalid.rows:
            log(
                "warning",
                f"{where} line {lines.get(number, number)}: skipped invalid row "
                f"({reason}){_quote(text)}",
            )
        more = invalid.count - len(invalid.rows)
        log(
            "warning",
            f"{where}: skipped {invalid.count} invalid row(s)"
            + (f" ({more} not listed)" if more > 0 else ""),
        )


def _quote(text: str) -> str:
    return f": {text!r}" if text else ""


def physical_lines(
    open_raw: Callable[[], Any], options: CsvOptions, numbers: list[int]
) -> dict[int, int]:
    """Map pyarrow record numbers (1 = first record, header included) to 1-based line numbers.

    Counts records the way a quote-aware parser does: a record starts on a line that does not
    continue an open quoted value. Runs only for files that have invalid rows.
    """
    wanted = set(numbers)
    if not wanted:
        return {}
    found: dict[int, int] = {}
    probe = CheckedStream(None, options)
    raw = open_raw()
    try:
        record = line = 0
        in_quotes = False
        rest = b""
        while len(found) < len(wanted):
            chunk = raw.read(_CHUNK)
            data = rest + bytes(chunk or b"")
            lines = data.split(b"\n")
            rest = lines.pop() if chunk else b""
            if not chunk and lines and lines[-1] == b"":
                lines.pop()
            for text in lines:
                line += 1
                if not in_quotes and text.strip(b"\r"):
                    record += 1
                    if record in wanted:
                        found[record] = line
                in_quotes ^= probe._quotes(text) % 2 == 1
            if not chunk:
                break
    finally:
        raw.close()
    return found
