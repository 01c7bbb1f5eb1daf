"""Arrow batches as Parquet files in a table's internal stage (``PUT``), in bounded memory.

Batches are written to a local Parquet file (columns renamed ``C0``, ``C1``... so the COPY
matches them by name whatever the real column names are, plus ``C_SEQ``, the row's position
in the load, which a merge uses to keep the last row per key). When a file reaches
:data:`FILE_BYTES` of Arrow data it is closed, ``PUT`` to the stage and deleted, so the
process holds one Parquet row group and one file on disk at most. Nested values (lists,
structs, maps) go as JSON text and are parsed into ``ARRAY``/``OBJECT`` when published.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from headwater.connectors.memory import release_freed_memory

#: Arrow bytes per staged Parquet file (a few MB of Parquet). The driver holds a file in
#: memory while it uploads it: 64 MB files took a 2,000,000-row load to 540 MB peak RSS,
#: 16 MB files to 265 MB, at the same speed (docs/benchmarks.md).
FILE_BYTES = 16 * 1024 * 1024
#: Rows per Parquet row group: what the writer buffers.
ROW_GROUP_ROWS = 128 * 1024
SEQ = "C_SEQ"


def staged_name(index: int) -> str:
    return f"C{index}"


def _as_json(array: pa.Array) -> pa.Array:
    values = array.to_pylist()
    return pa.array(
        [None if v is None else json.dumps(v, default=str, ensure_ascii=False) for v in values],
        pa.string(),
    )


def staged_batch(batch: pa.RecordBatch, first_seq: int) -> pa.RecordBatch:
    """``batch`` as staged: ``C<i>`` names, nested values as JSON, and the ``C_SEQ`` column."""
    arrays: list[pa.Array] = []
    for array in batch.columns:
        kind = array.type
        if pa.types.is_dictionary(kind):
            array = array.dictionary_decode()
            kind = array.type
        nested = (pa.types.is_list, pa.types.is_large_list, pa.types.is_struct, pa.types.is_map)
        if any(test(kind) for test in nested):
            array = _as_json(array)
        arrays.append(array)
    arrays.append(pa.array(range(first_seq, first_seq + batch.num_rows), pa.int64()))
    names = [staged_name(i) for i in range(batch.num_columns)] + [SEQ]
    return pa.RecordBatch.from_arrays(arrays, names=names)


class StageWriter:
    """Local Parquet files, each uploaded by ``put(path)`` once it is full."""

    def __init__(self, put: Any) -> None:
        self._put = put
        self._dir = Path(tempfile.mkdtemp(prefix="hw-snowflake-"))
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None
        self._bytes = 0
        self.files = 0
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        staged = staged_batch(batch, self.rows)
        if self._writer is not None and not self._writer.schema.equals(staged.schema):
            self.flush()
        if self._writer is None:
            self._path = self._dir / f"part-{self.files:05d}.parquet"
            self._writer = pq.ParquetWriter(
                self._path, staged.schema, compression="snappy", write_statistics=False
            )
        self._writer.write_batch(staged, row_group_size=ROW_GROUP_ROWS)
        self.rows += batch.num_rows
        self._bytes += batch.nbytes
        if self._bytes >= FILE_BYTES:
            self.flush()

    def flush(self) -> None:
        """Close the open file and upload it."""
        if self._writer is None or self._path is None:
            return
        writer, path = self._writer, self._path
        self._writer, self._path, self._bytes = None, None, 0
        writer.close()
        self._put(path)
        path.unlink(missing_ok=True)
        self.files += 1
        # the driver read the file into buffers of its upload threads: give them back
        release_freed_memory()

    def close(self) -> None:
        """Drop any local file (uploaded ones are the stage's business)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        shutil.rmtree(self._dir, ignore_errors=True)
