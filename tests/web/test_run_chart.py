"""The river page's chart of its last runs: one bar per run, failed in red, exact tooltips."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from headwater.web.run_chart import runs_chart


def _group(minutes_ago: int, seconds: float, status: str, rows: int) -> Any:
    start = datetime(2026, 3, 1, 12, tzinfo=UTC) - timedelta(minutes=minutes_ago)
    end = start + timedelta(seconds=seconds) if status != "running" else None
    return SimpleNamespace(start_time=start, end_time=end, status=status, total_rows=rows)


def test_bars_are_durations_and_failed_runs_are_red() -> None:
    newest_first = [
        _group(0, 0, "running", 0),
        _group(10, 90, "failed", 10),
        _group(20, 30, "succeeded", 340),
    ]
    svg = runs_chart(newest_first)
    assert svg.count('<g class="run">') == 3
    assert svg.count('class="bar-failed"') == 1
    titles = re.findall(r'<g class="run"><title>([^<]*)</title>', svg)
    assert titles[0] == "2026-03-01 11:40 UTC: succeeded, 30.0 s, 340 rows"  # oldest first
    assert titles[1].startswith("2026-03-01 11:50 UTC: failed, 1 min 30 s")
    assert ">100 s</text>" in svg and ">500</text>" in svg  # round axis tops
    assert "style=" not in svg and "<script" not in svg
    assert runs_chart([]) == ""


def test_throughput_is_rows_per_second_so_far() -> None:
    from headwater.web.runs import throughput

    start = datetime(2026, 3, 1, 12, tzinfo=UTC)
    running: Any = SimpleNamespace(start_time=start, end_time=None, total_rows=5000)
    assert throughput(running, start + timedelta(seconds=2)) == "2,500 rows/s"
    done: Any = SimpleNamespace(
        start_time=start.replace(tzinfo=None), end_time=start + timedelta(seconds=4), total_rows=8
    )
    assert throughput(done, start + timedelta(hours=1)) == "2 rows/s"  # to its end, not now
    assert throughput(SimpleNamespace(start_time=start, end_time=None, total_rows=0), start) == "—"
