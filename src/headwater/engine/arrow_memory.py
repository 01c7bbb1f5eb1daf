"""Which allocator Arrow's buffers come from in a process that runs loads.

pyarrow allocates from mimalloc by default, which keeps freed pages for reuse by the thread
that freed them. A load frees and allocates batches on several threads (the reader's parse
pool, the writer, a target's own threads), so those pages pile up: the 1 GB CSV into DuckDB
peaked at 303 to 331 MB with mimalloc and 274 to 281 MB with jemalloc, at the same speed
(docs/benchmarks.md). jemalloc returns them to the system. An operator's
``ARROW_DEFAULT_MEMORY_POOL`` (``mimalloc``, ``jemalloc`` or ``system``) is left alone, and a
pyarrow built without jemalloc keeps its default.
"""

from __future__ import annotations

import contextlib
import functools
import os

import pyarrow as pa


@functools.cache
def prefer_jemalloc() -> str:
    """Make jemalloc Arrow's default pool (once per process); return the pool in use."""
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        # a pyarrow built without jemalloc raises NotImplementedError: keep its default
        with contextlib.suppress(NotImplementedError):
            pa.set_memory_pool(pa.jemalloc_memory_pool())
    return str(pa.default_memory_pool().backend_name)
