"""Per-table options of file sources (``details.file_format`` + ``details.source_options``).

Parsed once per job, before anything is read, so that a typo in an option name or value is a
configuration error naming the option rather than a surprise halfway through a load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import pyarrow as pa

from headwater.connectors.errors import ConfigurationError
from headwater.connectors.files.csvread import CsvOptions
from headwater.connectors.files.shape import NestedMode, parse_overrides

FileFormat = Literal["csv", "jsonl", "parquet"]
Compression = Literal["auto", "none", "gzip", "zstd", "bz2"]

FORMATS = ("csv", "jsonl", "json", "parquet")
_CSV_KEYS = {
    "delimiter",
    "quote_char",
    "escape_char",
    "header",
    "column_names",
    "encoding",
    "skip_rows",
    "null_values",
    "on_invalid_rows",
}
_KEYS = {"file_format", "compression", "columns", "primary_key", "nested", "file_columns"}

#: Extra columns naming the file each row came from, for lineage and for incremental loads.
FILE_NAME_COLUMN = "_hw_file"
FILE_MODIFIED_COLUMN = "_hw_file_modified"


@dataclass(frozen=True)
class FileOptions:
    file_format: FileFormat | None = None
    compression: Compression = "auto"
    csv: CsvOptions = field(default_factory=CsvOptions)
    overrides: Mapping[str, tuple[pa.DataType, str | None]] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    nested: NestedMode = "json"
    file_columns: bool = False


def _choice(value: Any, allowed: tuple[str, ...], name: str) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise ConfigurationError(f"source option {name!r} must be one of {', '.join(allowed)}")
    return text


def _char(value: Any, name: str) -> str | None:
    if value is None or value is False or value == "":
        return None
    text = "\t" if value in ("\\t", "tab") else str(value)
    if len(text) != 1:
        raise ConfigurationError(f"source option {name!r} must be a single character")
    return text


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _names(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigurationError(f"source option {name!r} must be a list of names")


def parse_file_options(raw: Mapping[str, Any], where: str) -> FileOptions:
    unknown = sorted(set(raw) - _KEYS - _CSV_KEYS)
    if unknown:
        known = ", ".join(sorted(_KEYS | _CSV_KEYS))
        raise ConfigurationError(
            f"{where}: unknown source option(s) {', '.join(unknown)} (known: {known})"
        )
    file_format = raw.get("file_format")
    if file_format is not None:
        file_format = _choice(file_format, FORMATS, "file_format")
        file_format = "jsonl" if file_format == "json" else file_format
    csv_kwargs: dict[str, Any] = {}
    if "delimiter" in raw:
        csv_kwargs["delimiter"] = _char(raw["delimiter"], "delimiter") or ","
    if "quote_char" in raw:
        csv_kwargs["quote_char"] = _char(raw["quote_char"], "quote_char")
    if "escape_char" in raw:
        csv_kwargs["escape_char"] = _char(raw["escape_char"], "escape_char")
    if "header" in raw:
        csv_kwargs["header"] = _flag(raw["header"])
    if "column_names" in raw:
        csv_kwargs["column_names"] = _names(raw["column_names"], "column_names")
    if "encoding" in raw:
        csv_kwargs["encoding"] = str(raw["encoding"])
    if "skip_rows" in raw:
        try:
            csv_kwargs["skip_rows"] = max(0, int(raw["skip_rows"]))
        except (TypeError, ValueError):
            raise ConfigurationError("source option 'skip_rows' must be an integer") from None
    if "null_values" in raw:
        csv_kwargs["null_values"] = _names(raw["null_values"], "null_values")
    if "on_invalid_rows" in raw:
        csv_kwargs["on_invalid_rows"] = _choice(
            raw["on_invalid_rows"], ("fail", "skip_and_log"), "on_invalid_rows"
        )
    try:
        csv = CsvOptions(**csv_kwargs)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    return FileOptions(
        file_format=cast(FileFormat | None, file_format),
        compression=cast(
            Compression,
            _choice(
                raw.get("compression", "auto"),
                ("auto", "none", "gzip", "zstd", "bz2"),
                "compression",
            ),
        ),
        csv=csv,
        overrides=parse_overrides(raw.get("columns"), where),
        primary_key=_names(raw.get("primary_key"), "primary_key"),
        nested=cast(NestedMode, _choice(raw.get("nested", "json"), ("json", "flatten"), "nested")),
        file_columns=_flag(raw.get("file_columns", False)),
    )
