"""A small server-side SVG bar chart: runs and units per day, no chart library, no script.

The console must work offline and under ``default-src 'self'``, so the chart is plain inline
SVG built here: presentation attributes only (no ``style=``), a ``<title>`` per bar so hovering
or a screen reader gives the exact figures, and a text summary beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from headwater.web.queries import Day

WIDTH = 760
HEIGHT = 220
LEFT = 44
RIGHT = 44
TOP = 16
BOTTOM = 36


@dataclass(frozen=True)
class Scale:
    top: float

    def y(self, value: float) -> float:
        plot = HEIGHT - TOP - BOTTOM
        return TOP + plot - (value / self.top * plot if self.top else 0)


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * magnitude * (1 + 1e-9):
            return float(step * magnitude)
    return float(10 * magnitude)  # pragma: no cover - ten magnitudes always fit


def _fmt(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def daily_chart(days: list[Day]) -> str:
    """Bars for runs (failed part in red) on the left axis, a line of units on the right."""
    if not days:
        return ""
    runs_scale = Scale(_nice(max(d.runs for d in days)))
    units_top = max((d.units for d in days), default=Decimal(0))
    units_scale = Scale(_nice(float(units_top)))
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / len(days)
    bar = max(2.0, slot * 0.6)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-labelledby="chart-title chart-desc">',
        '<title id="chart-title">Runs and units per day</title>',
        f'<desc id="chart-desc">{len(days)} days; bars are runs (failed in red), '
        "the line is units.</desc>",
    ]
    for fraction in (0, 0.5, 1):
        y = runs_scale.y(runs_scale.top * fraction)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{_fmt(runs_scale.top * fraction)}</text>"
        )
        parts.append(
            f'<text x="{WIDTH - RIGHT + 6}" y="{y + 4:.1f}" class="axis units-axis">'
            f"{_fmt(units_scale.top * fraction)}</text>"
        )
    points: list[str] = []
    label_every = max(1, len(days) // 10)
    for index, day in enumerate(days):
        x = LEFT + slot * index + (slot - bar) / 2
        y_runs = runs_scale.y(day.runs)
        y_failed = runs_scale.y(day.failed)
        base = runs_scale.y(0)
        tip = escape(
            f"{day.day.isoformat()}: {day.runs} runs, {day.failed} failed, {day.units} units"
        )
        parts.append(f'<g class="day"><title>{tip}</title>')
        parts.append(
            f'<rect x="{x:.1f}" y="{y_runs:.1f}" width="{bar:.1f}" '
            f'height="{base - y_runs:.1f}" class="bar-runs"/>'
        )
        if day.failed:
            parts.append(
                f'<rect x="{x:.1f}" y="{y_failed:.1f}" width="{bar:.1f}" '
                f'height="{base - y_failed:.1f}" class="bar-failed"/>'
            )
        parts.append("</g>")
        points.append(f"{x + bar / 2:.1f},{units_scale.y(float(day.units)):.1f}")
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'class="axis">{day.day.strftime("%m-%d")}</text>'
            )
    parts.append(f'<polyline points="{" ".join(points)}" class="units-line" fill="none"/>')
    parts.append("</svg>")
    return "".join(parts)
