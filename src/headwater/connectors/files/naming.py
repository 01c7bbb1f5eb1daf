"""The default target table name of a file source's table: the file's name without suffixes.

Users expect ``orders.csv.gz`` to land as ``orders`` (Airbyte, Sling and dlt all strip the
extension and the compression suffix), not as a table literally named ``"orders.csv.gz"``.
The rule, documented in ``docs/connectors-files.md``:

1. take the last part of the path (``data/2024/orders.csv.gz`` -> ``orders.csv.gz``);
2. drop one compression suffix (``.gz``, ``.gzip``, ``.bz2``, ``.zst``, ``.zstd``, ``.xz``,
   ``.lz4``, ``.snappy``, ``.zip``), then one format suffix (``.csv``, ``.tsv``, ``.txt``,
   ``.json``, ``.jsonl``, ``.ndjson``, ``.parquet``, ``.pq``);
3. a glob keeps its literal text with the wildcards and the separators around them removed
   (``orders_*.csv`` -> ``orders``); when nothing literal is left, the nearest folder above
   without wildcards names the table (``events/**/*.parquet`` -> ``events``);
4. when even that is empty, the table is called ``file_<n>`` (its position in the river).

A name set explicitly in ``details.target_table`` always wins.
"""

from __future__ import annotations

import re

COMPRESSION_SUFFIXES = (".gz", ".gzip", ".bz2", ".zst", ".zstd", ".xz", ".lz4", ".snappy", ".zip")
FORMAT_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".parquet", ".pq")
_GLOB = re.compile(r"[*?\[\]{}]")
_GLOB_PART = re.compile(r"\*+|\?|\[[^\]]*\]|\{[^}]*\}")
_EDGE = "_-. "


def _drop_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    lowered = name.lower()
    for suffix in suffixes:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _literal(part: str) -> str:
    """The part without wildcards, and without separators the wildcards left at its edges."""
    pieces = [piece.strip(_EDGE) for piece in _GLOB_PART.split(part)]
    return "_".join(piece for piece in pieces if piece)


def table_name_for_file(path: str, index: int) -> str:
    """The default target table name for the file path or glob ``path`` (rule above)."""
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if parts:
        last = _drop_suffix(_drop_suffix(parts[-1], COMPRESSION_SUFFIXES), FORMAT_SUFFIXES)
        name = _literal(last) if _GLOB.search(last) else last
        if name:
            return name
        for folder in reversed(parts[:-1]):
            if not _GLOB.search(folder) and folder.strip(_EDGE):
                return folder
    return f"file_{index + 1}"
