"""SVG geometry for the Reward model tab: the learning curve and the accuracy bars.

Plain numbers in a fixed viewBox, drawn by templates/reward/_charts.html (no JS library),
in the style of app.analytics.charts.
"""

from __future__ import annotations

import math
from typing import Any

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 12, 32


AGREEMENT = "inter-annotator agreement"
MAJORITY = "majority of the other annotators"


def human_reference(metrics: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """The version's human references as {"agreement", "majority", "model"}, each
    {"accuracy", "ci95", "pairs"} or None. Versions trained before issue 20 stored only
    `ceiling.agreement` (leave-one-out agreement without CI): shown as the agreement."""
    human = metrics.get("human")
    if human is not None:
        agreement = dict(human.get("inter_annotator_agreement") or {})
        agreement["accuracy"] = agreement.pop("agreement", None)
        return {
            "agreement": agreement,
            "majority": human.get("majority_accuracy"),
            "model": human.get("model_accuracy"),
        }
    old = metrics.get("ceiling") or {}
    agreement = {"accuracy": old.get("agreement"), "ci95": None, "pairs": old.get("pairs")}
    return {"agreement": agreement, "majority": None, "model": None}


def learning_curve_chart(
    points: list[dict[str, Any]], guides: dict[str, float | None], chance: float = 0.5
) -> dict[str, Any] | None:
    """Held-out accuracy (with its 95% CI band) against training comparisons, log x;
    `guides` are reference lines by name (the human references)."""
    points = [p for p in points if p.get("accuracy") is not None]
    if not points:
        return None
    xs = [math.log10(max(p["comparisons"], 1)) for p in points]
    x_low, x_high = min(xs), max(xs)
    if x_high - x_low < 1e-9:
        x_low, x_high = x_low - 0.5, x_high + 0.5
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_low = min([0.4, *(p["ci95"][0] for p in points if p.get("ci95"))])

    def x(v: float) -> float:
        return round(LEFT + inner_w * (v - x_low) / (x_high - x_low), 1)

    def y(acc: float) -> float:
        return round(TOP + inner_h * (1.0 - (acc - y_low) / (1.0 - y_low)), 1)

    line = " ".join(f"{x(v)},{y(p['accuracy'])}" for v, p in zip(xs, points, strict=True))
    upper = [f"{x(v)},{y(p['ci95'][1])}" for v, p in zip(xs, points, strict=True) if p.get("ci95")]
    lower = [f"{x(v)},{y(p['ci95'][0])}" for v, p in zip(xs, points, strict=True) if p.get("ci95")]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "line": line,
        "band": " ".join(upper + lower[::-1]),
        "dots": [
            {
                "x": x(v),
                "y": y(p["accuracy"]),
                "title": f"{p['comparisons']} comparisons: {p['accuracy']:.3f}",
            }
            for v, p in zip(xs, points, strict=True)
        ],
        "x_labels": [
            {"x": x(v), "text": str(p["comparisons"])} for v, p in zip(xs, points, strict=True)
        ],
        "y_labels": [
            {"y": y(a), "text": f"{a:.1f}"} for a in (y_low, 0.5, 0.75, 1.0) if a >= y_low
        ],
        "guides": [
            {"y": y(value), "title": f"{name}: {value:.3f}", "name": name}
            for name, value in guides.items()
            if value is not None and value >= y_low
        ],
        "chance_y": y(chance) if chance >= y_low else None,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "axis_y": TOP + inner_h,
    }


def accuracy_bars(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The model's held-out accuracy beside the human references (inter-annotator
    agreement and the majority of the other annotators, with the model on those same pairs)
    and the baselines (0-100%), each with its CI and n."""
    test = metrics.get("test", {})
    human = human_reference(metrics)
    rows_in = [("reward model", test)]
    model = human["model"]
    if model and model.get("pairs") != test.get("pairs"):
        rows_in.append(("reward model, same pairs as humans", model))
    rows_in.append((AGREEMENT, human["agreement"] or {}))
    rows_in.append((MAJORITY, human["majority"] or {}))
    for name, value in metrics.get("baselines", {}).items():
        rows_in.append((name.replace("_", " "), value))
    rows_in = [(n, v) for n, v in rows_in if v.get("accuracy") is not None]
    if not rows_in:
        return None
    row_h, label_w, bar_w = 28, 250, 400
    rows = []
    for i, (name, value) in enumerate(rows_in):
        ci = value.get("ci95")
        rows.append(
            {
                "y": i * row_h + 4,
                "label": name,
                "w": round(bar_w * value["accuracy"], 1),
                "ci": [round(label_w + bar_w * c, 1) for c in ci] if ci else None,
                "text": f"{value['accuracy']:.1%}"
                + (f" [{ci[0]:.1%}, {ci[1]:.1%}]" if ci else "")
                + (f" n={value['pairs']}" if value.get("pairs") is not None else ""),
            }
        )
    return {
        "width": label_w + bar_w + 220,
        "height": len(rows) * row_h + 8,
        "rows": rows,
        "label_w": label_w,
        "bar_w": bar_w,
        "half_x": label_w + bar_w / 2,
    }
