"""Chart geometry for server-rendered SVG: plain numbers the templates draw (no JS library).

Each function returns a dict of coordinates in a fixed viewBox; labels stay plain text
so the template's autoescaping covers them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TypedDict

WIDTH, HEIGHT = 720, 200
LEFT, BOTTOM, TOP = 40, 24, 10


class Bar(TypedDict):
    x: float
    y: float
    w: float
    h: float
    title: str


class AxisLabel(TypedDict):
    x: float
    text: str


class BarChart(TypedDict):
    width: int
    height: int
    bars: list[Bar]
    labels: list[AxisLabel]
    max: int
    axis_y: int
    left: int
    top: int
    total: int


class WinRateRow(TypedDict):
    y: int
    label: str
    w: float
    text: str


class WinRateChart(TypedDict):
    width: int
    height: int
    rows: list[WinRateRow]
    label_w: int
    bar_w: int
    half_x: float


class StrengthRow(TypedDict):
    y: int
    label: str
    x: float
    x1: float | None
    x2: float | None
    text: str


class StrengthChart(TypedDict):
    width: int
    height: int
    rows: list[StrengthRow]
    zero_x: float | None
    label_w: int
    plot_w: int


def hourly_counts(
    times: Iterable[dt.datetime], now: dt.datetime, hours: int = 48
) -> list[tuple[dt.datetime, int]]:
    """Counts per hour for the `hours` hours up to now, oldest first (empty hours are 0)."""
    end = now.replace(minute=0, second=0, microsecond=0)
    start = end - dt.timedelta(hours=hours - 1)
    counts: Counter[dt.datetime] = Counter()
    for t in times:
        bucket = t.replace(minute=0, second=0, microsecond=0)
        if start <= bucket <= end:
            counts[bucket] += 1
    return [
        (start + dt.timedelta(hours=i), counts[start + dt.timedelta(hours=i)]) for i in range(hours)
    ]


def bar_chart(series: list[tuple[dt.datetime, int]]) -> BarChart:
    """Vertical bars over time with a y-axis maximum and a few x labels."""
    peak = max((n for _, n in series), default=0)
    top = max(peak, 1)
    inner_w, inner_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = inner_w / max(len(series), 1)
    bars: list[Bar] = []
    labels: list[AxisLabel] = []
    for i, (when, n) in enumerate(series):
        h = inner_h * n / top
        bars.append(
            {
                "x": round(LEFT + i * step + 1, 1),
                "y": round(TOP + inner_h - h, 1),
                "w": round(max(step - 2, 1), 1),
                "h": round(h, 1),
                "title": f"{when:%Y-%m-%d %H}:00 UTC: {n}",
            }
        )
        if i % 6 == 0:
            labels.append({"x": round(LEFT + i * step, 1), "text": f"{when:%d %H}h"})
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "labels": labels,
        "max": peak,
        "axis_y": TOP + inner_h,
        "left": LEFT,
        "top": TOP,
        "total": sum(n for _, n in series),
    }


def win_rate_chart(rates: Mapping[str, tuple[int, int, float | None]]) -> WinRateChart:
    """Horizontal bars of win rate (0-100%) per model: {model: (wins, losses, rate)}."""
    row_h, label_w, bar_w = 28, 200, 420
    rows: list[WinRateRow] = []
    for i, (model, (wins, losses, rate)) in enumerate(sorted(rates.items())):
        share = rate or 0.0
        rows.append(
            {
                "y": i * row_h + 4,
                "label": model,
                "w": round(bar_w * share, 1),
                "text": f"{share:.0%} ({wins}–{losses})",
            }
        )
    return {
        "width": label_w + bar_w + 110,
        "height": len(rows) * row_h + 8,
        "rows": rows,
        "label_w": label_w,
        "bar_w": bar_w,
        "half_x": label_w + bar_w / 2,
    }


def strength_chart(
    strengths: Mapping[str, tuple[float, float | None, float | None]],
) -> StrengthChart:
    """Bradley–Terry log-strengths as dots with 95% interval whiskers on a shared scale."""
    row_h, label_w, plot_w = 28, 200, 420
    values = [v for s in strengths.values() for v in s if v is not None]
    low, high = (min(values), max(values)) if values else (-1.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad

    def x(v: float) -> float:
        return round(label_w + plot_w * (v - low) / (high - low), 1)

    rows: list[StrengthRow] = []
    ordered = sorted(strengths.items(), key=lambda kv: -kv[1][0])
    for i, (model, (value, ci_low, ci_high)) in enumerate(ordered):
        ci = (
            f" [{ci_low:+.2f}, {ci_high:+.2f}]"
            if ci_low is not None and ci_high is not None
            else ""
        )
        rows.append(
            {
                "y": i * row_h + 14,
                "label": model,
                "x": x(value),
                "x1": x(ci_low) if ci_low is not None else None,
                "x2": x(ci_high) if ci_high is not None else None,
                "text": f"{value:+.2f}{ci}",
            }
        )
    return {
        "width": label_w + plot_w + 150,
        "height": len(rows) * row_h + 8,
        "rows": rows,
        "zero_x": x(0.0) if low <= 0 <= high else None,
        "label_w": label_w,
        "plot_w": plot_w,
    }
