"""Give freed native memory back to the operating system.

Drivers written in Rust or C++ (ConnectorX) allocate and free large buffers from several
threads; glibc keeps the freed memory in per-thread arenas, so a process that reads a table in
many chunks creeps up in RSS although nothing is retained. ``malloc_trim(0)`` after each chunk
returns it, which keeps peak memory flat as tables grow. A no-op where glibc is not in use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_freed_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
