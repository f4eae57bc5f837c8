"""Plain data for the Reward model tab and the scores API (no ORM objects in templates)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import ROUTINGS, Prompt
from app.reward import charts, service
from app.reward.data import comparison_count
from app.reward.scoring import prompt_scores


def scores_payload(session: Session, prompt_set_id: int, *, limit: int) -> dict[str, Any]:
    """The first `limit` prompts in hand-out order with the active version's scores."""
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    active = service.active_version(session, prompt_set_id)
    prompts = session.execute(
        select(Prompt.id, Prompt.priority, Prompt.text, Prompt.messages)
        .where(Prompt.prompt_set_id == prompt_set_id, Prompt.status == "active")
        .order_by(Prompt.priority, Prompt.id)
        .limit(limit)
    ).all()
    scores = (
        prompt_scores(session, active.id, [p.id for p in prompts]) if active is not None else {}
    )
    return {
        "prompt_set_id": prompt_set_id,
        "routing": prompt_set.routing,
        "version_id": active.id if active else None,
        "prompts": [
            {
                "id": p.id,
                "priority": p.priority,
                "text": (p.text or (p.messages or [{}])[-1].get("content", ""))[:300],
                "candidates": [
                    {"candidate_id": cid, "score": round(s, 4), "spread": round(d, 4)}
                    for cid, s, d in scores.get(p.id, [])
                ],
            }
            for p in prompts
        ],
    }


def _human_cells(metrics: dict[str, Any]) -> dict[str, Any]:
    human = charts.human_reference(metrics)
    agreement, majority = human["agreement"] or {}, human["majority"] or {}
    return {"agreement": agreement.get("accuracy"), "majority": majority.get("accuracy")}


def _version_row(version: Any) -> dict[str, Any]:
    test = (version.metrics or {}).get("test", {})
    return {
        "id": version.id,
        "kind": version.kind,
        "backbone": version.backbone,
        "status": version.status,
        "is_active": version.is_active,
        "progress": round(100 * version.progress, 1),
        "progress_message": version.progress_message,
        "error": version.error,
        "accuracy": test.get("accuracy"),
        "ci95": test.get("ci95"),
        **_human_cells(version.metrics or {}),
        "comparisons": (version.training_data or {}).get("comparisons"),
        "created_at": version.created_at,
        "downloadable": version.status == "done" and bool(version.artifact_path),
    }


def _guides(metrics: dict[str, Any]) -> dict[str, float | None]:
    human = charts.human_reference(metrics)
    return {
        charts.AGREEMENT: (human["agreement"] or {}).get("accuracy"),
        charts.MAJORITY: (human["majority"] or {}).get("accuracy"),
    }


def reward_tab_context(
    session: Session, prompt_set_id: int, app_settings: Settings
) -> dict[str, Any]:
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    versions = service.list_versions(session, prompt_set_id)
    shown = next((v for v in versions if v.is_active), None) or next(
        (v for v in versions if v.status == "done"), None
    )
    metrics = shown.metrics if shown else {}
    return {
        "prompt_set": {
            "id": prompt_set.id,
            "name": prompt_set.name,
            "routing": prompt_set.routing,
            "retrain_every": prompt_set.retrain_every,
        },
        "routings": ROUTINGS,
        "comparisons": comparison_count(session, prompt_set_id),
        "min_comparisons": app_settings.reward_min_comparisons,
        "versions": [_version_row(v) for v in versions],
        "shown": _version_row(shown) if shown else None,
        "curve": charts.learning_curve_chart(metrics.get("learning_curve", []), _guides(metrics))
        if shown
        else None,
        "bars": charts.accuracy_bars(metrics) if shown else None,
        "scores": scores_payload(session, prompt_set_id, limit=20),
    }
