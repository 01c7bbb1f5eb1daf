"""The live progress table that ``headwater run`` shows, through the API or on this machine."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table


def _rate(run: dict[str, Any]) -> str:
    """Rows per second since the run started (to its end once it ended)."""
    started = run.get("start_date_in_milliseconds") or 0
    ended = run.get("end_date_in_milliseconds") or int(time.time() * 1000)
    seconds = (ended - started) / 1000
    if not started or seconds <= 0 or run["status"] == "pending":
        return ""
    return f"{run.get('total_rows', 0) / seconds:,.0f} rows/s"


def run_table(runs: list[dict[str, Any]]) -> Table:
    table = Table("target", "status", "rows", "bytes", "rate", "error")
    for run in runs:
        table.add_row(
            str(run.get("target_name") or run.get("source_name") or run["run_id"]),
            str(run["status"]),
            f"{run.get('total_rows', 0):,}",
            f"{run.get('total_size', 0):,}",
            _rate(run),
            str(run.get("error_description") or ""),
        )
    return table
