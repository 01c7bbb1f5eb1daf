"""Latency summaries for the load test (kept apart so tests can check the arithmetic)."""

from __future__ import annotations

import math


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (``fraction`` in 0..1)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def percentiles(values: list[float]) -> dict[str, float]:
    """count, p50, p95, p99 and max of latencies in seconds, reported in milliseconds."""
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": round(percentile(ordered, 0.50) * 1000, 1),
        "p95": round(percentile(ordered, 0.95) * 1000, 1),
        "p99": round(percentile(ordered, 0.99) * 1000, 1),
        "max": round((ordered[-1] if ordered else math.nan) * 1000, 1),
    }
