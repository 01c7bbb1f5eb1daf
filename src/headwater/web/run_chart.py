"""The river page's chart of its last runs: duration as bars (failed in red), rows as a line.

Inline SVG built on the server like ``charts.daily_chart`` (no script, no ``style=``), with a
``<title>`` per bar giving the exact figures to hover and to screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from headwater.store.models.runs import RunGroup
from headwater.web.charts import BOTTOM, HEIGHT, LEFT, RIGHT, WIDTH, Scale, _fmt, _nice
from headwater.web.render import fmt_duration, fmt_time

FAILED = frozenset({"failed", "canceled", "partially succeeded"})


def _seconds(group: RunGroup) -> float:
    if group.end_time is None:
        return 0.0
    return max(0.0, (group.end_time - group.start_time).total_seconds())


def runs_chart(groups: Sequence[RunGroup]) -> str:
    """Oldest on the left; ``groups`` as listed newest first. Empty for a river never run."""
    ordered = list(reversed(groups))
    if not ordered:
        return ""
    time_scale = Scale(_nice(max(_seconds(g) for g in ordered)))
    rows_scale = Scale(_nice(float(max(g.total_rows or 0 for g in ordered))))
    slot = (WIDTH - LEFT - RIGHT) / max(len(ordered), 20)
    bar = max(2.0, slot * 0.6)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'class="chart" role="img" aria-labelledby="runs-chart-title runs-chart-desc" '
        'id="runs-chart">',
        f'<title id="runs-chart-title">Last {len(ordered)} runs</title>',
        '<desc id="runs-chart-desc">Bars are durations in seconds (failed runs in red), the '
        "line is rows loaded.</desc>",
    ]
    for fraction in (0, 0.5, 1):
        y = time_scale.y(time_scale.top * fraction)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{_fmt(time_scale.top * fraction)} s</text>"
            f'<text x="{WIDTH - RIGHT + 6}" y="{y + 4:.1f}" class="axis units-axis">'
            f"{_fmt(rows_scale.top * fraction)}</text>"
        )
    points = []
    for index, group in enumerate(ordered):
        x = LEFT + slot * index + (slot - bar) / 2
        seconds = _seconds(group)
        top, base = time_scale.y(seconds), time_scale.y(0)
        tip = escape(
            f"{fmt_time(group.start_time)}: {group.status}, "
            f"{fmt_duration(int(seconds * 1000))}, {group.total_rows} rows"
        )
        kind = "bar-failed" if group.status in FAILED else "bar-runs"
        parts.append(
            f'<g class="run"><title>{tip}</title><rect x="{x:.1f}" y="{top:.1f}" '
            f'width="{bar:.1f}" height="{max(base - top, 1):.1f}" class="{kind}"/></g>'
        )
        points.append(f"{x + bar / 2:.1f},{rows_scale.y(float(group.total_rows or 0)):.1f}")
    parts.append(f'<polyline points="{" ".join(points)}" class="units-line" fill="none"/>')
    parts.append(
        f'<text x="{LEFT}" y="{HEIGHT - BOTTOM + 16}" class="axis">older</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - BOTTOM + 16}" text-anchor="end" class="axis">'
        f"latest</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
