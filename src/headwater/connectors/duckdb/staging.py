"""Staging by one streamed INSERT: a load's batches flow into DuckDB as one Arrow stream.

Why not an INSERT per batch: DuckDB appends the Arrow table of an ``INSERT`` on one thread,
and rows that many small statements append to one transaction stay in memory until ``COMMIT``,
so such a loader must commit every few MB and pays for each chunk's partial row group again.
One ``INSERT ... SELECT FROM`` a ``RecordBatchReader`` instead lets every DuckDB thread pull the
next batch (under DuckDB's lock) and convert and compress it in parallel, and DuckDB writes the
statement's full row groups to the file while it runs, so its memory stays within
``memory_limit`` whatever the size of the load (a 3 GB stream peaked 9 MB above a 1 GB one). On
the 1 GB CSV bench (two cores) that alone took the load from 10.0 s to 7.2 to 8.0 s on one
DuckDB thread, at the same peak memory (docs/benchmarks.md).

The statement runs on a thread of its own, on a cursor (its own connection to the same database
instance), while the engine's writer thread hands it batches through a small queue: ``put``
blocks when DuckDB is behind, so memory is bounded by the queue, not by the source.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

#: Batches waiting for DuckDB; the writer blocks beyond this (a source's batch is 0.5 to 8 MB).
QUEUE_BATCHES = 4
#: How often a blocked ``put`` looks whether DuckDB's statement has ended (failed).
POLL_SECONDS = 0.2
#: How long ``abort`` waits for the interrupted statement to end.
ABORT_WAIT_SECONDS = 30.0

_END = object()


class StagingStream:
    """One running ``INSERT`` into the staging table, fed batch by batch.

    ``statement`` reads the registered stream as ``_hw_batch``; every batch ``put`` must have
    ``schema`` (a batch of another schema needs a new stream). The statement commits on its own
    when ``finish`` ends the stream, or rolls back (all of this stream's rows) when it fails.
    """

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        statement: str,
        params: list[Any],
        schema: pa.Schema,
    ) -> None:
        self.schema = schema
        self.rows = 0
        self._cursor = conn.cursor()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=QUEUE_BATCHES)
        self._error: BaseException | None = None
        self._cancelled = False
        reader = pa.RecordBatchReader.from_batches(schema, self._batches())
        self._thread = threading.Thread(
            target=self._run,
            args=(reader, statement, params),
            name="headwater-duckdb-stage",
            daemon=True,
        )
        self._thread.start()

    def _batches(self) -> Iterator[pa.RecordBatch]:
        while (item := self._queue.get()) is not _END:
            assert isinstance(item, pa.RecordBatch)
            yield item

    def _run(self, reader: pa.RecordBatchReader, statement: str, params: list[Any]) -> None:
        try:
            self._cursor.register("_hw_batch", reader)
            self._cursor.execute(statement, params or None)
        except BaseException as exc:  # handed to the writer thread
            self._error = exc
        finally:
            with contextlib.suppress(Exception):
                self._cursor.unregister("_hw_batch")

    def put(self, batch: pa.RecordBatch) -> None:
        """Hand ``batch`` to DuckDB; raises DuckDB's error once the statement has failed."""
        self._offer(batch)
        self.rows += batch.num_rows

    def _offer(self, item: object) -> None:
        while True:
            self._raise_failure()
            try:
                self._queue.put(item, timeout=POLL_SECONDS)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise_failure()
                    raise RuntimeError(
                        "DuckDB's staging statement ended before its stream"
                    ) from None

    def _raise_failure(self) -> None:
        if self._cancelled:
            raise duckdb.InterruptException("the load was cancelled")
        if self._error is not None:
            raise self._error

    def finish(self) -> None:
        """End the stream and wait for DuckDB to commit it; raises its error if it failed."""
        self._offer(_END)
        self._thread.join()
        self._close_cursor()
        self._raise_failure()

    def abort(self) -> None:
        """Stop the statement (its rows roll back) and wait for its thread to end."""
        self.interrupt()
        # A statement waiting for the next batch only sees the interrupt once it gets one.
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_END)
        self._thread.join(ABORT_WAIT_SECONDS)
        self._close_cursor()

    def interrupt(self) -> None:
        """Cancel from another thread: the writer's next ``put`` or ``finish`` raises.

        DuckDB forgets an interrupt that comes before its statement starts, hence the flag.
        """
        self._cancelled = True
        with contextlib.suppress(Exception):
            self._cursor.interrupt()

    def _close_cursor(self) -> None:
        if not self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._cursor.close()
