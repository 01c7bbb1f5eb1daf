"""Exactly-once incremental appends at the cursor boundary.

Reading ``cursor > stored_max`` loses a row that commits later with a cursor value equal to the
stored maximum (common with timestamps set at insert time, or several rows per timestamp).
Reading ``>=`` instead re-reads the rows already loaded at that value. This module makes ``>=``
exact: the state remembers a fingerprint of every row loaded *at* the maximum cursor value, and
the next run drops re-read rows whose fingerprint is in that multiset, loading only the others.

The fingerprint list is capped (:data:`MAX_BOUNDARY_ROWS`); past the cap, no fingerprints are
stored and the next run falls back to ``>``, which is logged.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headwater.connectors.values import arrow_max

MAX_BOUNDARY_ROWS = 10_000


def row_fingerprint(batch: pa.RecordBatch, index: int) -> str:
    values = batch.slice(index, 1).to_pylist()[0]
    text = repr(tuple(values[name] for name in batch.schema.names))
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def _equal_indices(column: pa.Array, value: Any) -> list[int]:
    try:
        scalar = pa.scalar(value, type=column.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return [i for i, v in enumerate(column.to_pylist()) if v == value]
    mask = pc.fill_null(pc.equal(column, scalar), False)
    return [int(i) for i in pc.indices_nonzero(mask).to_pylist()]


class Boundary:
    """Filters re-read boundary rows and fingerprints the rows at the new maximum."""

    def __init__(
        self, column_index: int, previous_value: Any, previous_hashes: Sequence[str] | None
    ) -> None:
        self.column_index = column_index
        self.previous_value = previous_value
        self.skip: Counter[str] = Counter(previous_hashes or ())
        self.value: Any = previous_value if previous_hashes is not None else None
        self.hashes: list[str] | None = list(previous_hashes) if previous_hashes else []
        self.skipped = 0

    def filter(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Drop rows already loaded at the previous maximum."""
        if not self.skip or self.previous_value is None:
            return batch
        column = batch.column(self.column_index)
        drop: list[int] = []
        for index in _equal_indices(column, self.previous_value):
            fingerprint = row_fingerprint(batch, index)
            if self.skip[fingerprint] > 0:
                self.skip[fingerprint] -= 1
                drop.append(index)
        if not drop:
            return batch
        self.skipped += len(drop)
        keep = [True] * batch.num_rows
        for index in drop:
            keep[index] = False
        return batch.filter(pa.array(keep))

    def observe(self, batch: pa.RecordBatch) -> None:
        """Remember fingerprints of the rows at the highest cursor value seen so far."""
        column = batch.column(self.column_index)
        batch_max = arrow_max(column)
        if batch_max is None:
            return
        if self.value is None or batch_max > self.value:
            self.value = batch_max
            self.hashes = []
        if batch_max != self.value or self.hashes is None:
            return
        indices = _equal_indices(column, self.value)
        if len(self.hashes) + len(indices) > MAX_BOUNDARY_ROWS:
            self.hashes = None
            return
        self.hashes.extend(row_fingerprint(batch, i) for i in indices)
