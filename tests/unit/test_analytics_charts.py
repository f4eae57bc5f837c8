"""Chart geometry for the dashboard's server-rendered SVG."""

from __future__ import annotations

import datetime as dt

from app.analytics import charts

NOW = dt.datetime(2026, 11, 26, 12, 30, tzinfo=dt.UTC)


def test_hourly_counts_buckets_the_last_hours_and_fills_gaps_with_zero() -> None:
    times = [
        NOW,
        NOW - dt.timedelta(minutes=20),
        NOW - dt.timedelta(hours=2),
        NOW - dt.timedelta(days=3),
    ]
    series = charts.hourly_counts(times, NOW, hours=4)
    assert [n for _, n in series] == [0, 1, 0, 2]
    assert series[-1][0] == dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)


def test_bar_heights_scale_to_the_busiest_hour() -> None:
    series = charts.hourly_counts([NOW] * 4 + [NOW - dt.timedelta(hours=1)] * 2, NOW, hours=3)
    chart = charts.bar_chart(series)
    heights = [b["h"] for b in chart["bars"]]
    assert heights[0] == 0 and heights[2] == 2 * heights[1] and chart["max"] == 4
    assert chart["total"] == 6 and "2026-11-26 12:00 UTC: 4" == chart["bars"][2]["title"]


def test_strengths_are_ordered_best_first_with_whiskers_around_the_dot() -> None:
    chart = charts.strength_chart({"base": (-0.5, -0.9, -0.1), "ours": (0.5, 0.1, 0.9)})
    assert [r["label"] for r in chart["rows"]] == ["ours", "base"]
    for row in chart["rows"]:
        assert row["x1"] < row["x"] < row["x2"]
    assert chart["rows"][1]["x2"] < chart["zero_x"] < chart["rows"][0]["x1"]


def test_win_rate_bars_are_proportional() -> None:
    chart = charts.win_rate_chart({"a": (3, 1, 0.75), "b": (1, 3, 0.25)})
    assert chart["rows"][0]["w"] == 3 * chart["rows"][1]["w"]
    assert chart["rows"][0]["text"] == "75% (3–1)"
