"""Reward-model use cases: queue a version, activate, cancel, score, route. No FastAPI.

Each public function the API, pages or CLI call commits once at its end; helpers only add
and flush. Training itself runs in a worker (app.reward.worker), which ends a version with
`finish_version` or `fail_version`, each one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Target
from app.core.config import Settings
from app.core.db import utcnow
from app.core.webhooks import events, outbox
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.reward import data as reward_data
from app.reward.backbone import validate_backbone
from app.reward.errors import (
    NoActiveRewardModel,
    NotEnoughComparisons,
    RewardModelNotFound,
    RewardModelNotReady,
)
from app.reward.evaluation import paired_difference
from app.reward.head import ScoreRow, pair_accuracy
from app.reward.models import ACTIVE_STATUSES, CandidateScore, RewardModel
from app.reward.routing import refresh_priorities
from app.reward.schemas import RewardModelOut, RoutingIn, TrainOptions, parse_options
from app.reward.scoring import compute_scores, write_scores
from app.reward.training import Outcome


def create_version(
    session: Session,
    *,
    prompt_set_id: int,
    options: dict[str, Any],
    created_by_id: int | None,
    app_settings: Settings,
) -> RewardModel:
    """Check everything, then queue a version for the worker. Commits.

    422 for a bad option or an unknown backbone (naming the field); 409 when the set has
    too few comparisons, (full) when the estimated time is over the budget, or when the set
    is archived.
    """
    prompt_set = prompt_set_service.load_writable_prompt_set(session, prompt_set_id)
    opts = parse_options(options)
    validate_backbone(opts.backbone)
    have = reward_data.comparison_count(session, prompt_set_id)
    need = app_settings.reward_min_comparisons
    if have < need:
        raise NotEnoughComparisons(
            f"Prompt set {prompt_set.name!r} needs at least {need} comparisons "
            f"(has {have}) to train a reward model."
        )
    if opts.kind == "full":
        from app.reward.full import check_time_budget

        check_time_budget(session, prompt_set_id, opts, app_settings)
    version = RewardModel(
        prompt_set_id=prompt_set_id,
        kind=opts.kind,
        backbone=opts.backbone,
        options=opts.model_dump(),
        created_by_id=created_by_id,
        progress_message="waiting for a worker",
    )
    session.add(version)
    session.flush()
    _record_training(session, version)
    session.commit()
    return version


def _record_training(session: Session, version: RewardModel) -> None:
    audit.record(
        session,
        None,
        "reward_model.training_started",
        Target("reward_model", version.id),
        details={"prompt_set_id": version.prompt_set_id, "options": version.options},
    )


def load_version(session: Session, version_id: int) -> RewardModel:
    version = session.get(RewardModel, version_id)
    if version is None:
        raise RewardModelNotFound(f"Reward model {version_id} does not exist.")
    return version


def list_versions(session: Session, prompt_set_id: int | None = None) -> list[RewardModel]:
    query = select(RewardModel).order_by(RewardModel.id.desc())
    if prompt_set_id is not None:
        query = query.where(RewardModel.prompt_set_id == prompt_set_id)
    return list(session.scalars(query))


def active_version(session: Session, prompt_set_id: int) -> RewardModel | None:
    return session.scalar(
        select(RewardModel).where(
            RewardModel.prompt_set_id == prompt_set_id, RewardModel.is_active.is_(True)
        )
    )


def version_out(version: RewardModel) -> RewardModelOut:
    fields = {n: getattr(version, n) for n in RewardModelOut.model_fields if n != "download_url"}
    done = version.status == "done" and version.artifact_path
    url = f"/api/v1/reward-models/{version.id}/download" if done else None
    return RewardModelOut(**fields, download_url=url)


def cancel_version(session: Session, *, version_id: int) -> RewardModel:
    """Cancel a queued version now; a running one stops at its next progress report."""
    version = load_version(session, version_id)
    session.refresh(version)
    if version.status not in ACTIVE_STATUSES:
        raise RewardModelNotReady(f"Reward model {version_id} is already {version.status}.")
    before = version.status
    version.cancel_requested = True
    if version.status == "queued":
        version.status, version.finished_at = "cancelled", utcnow()
    audit.record(
        session,
        None,
        "reward_model.cancelled",
        Target("reward_model", version.id),
        {"before": {"status": before}, "after": {"status": version.status}},
        details={"prompt_set_id": version.prompt_set_id},
    )
    session.commit()
    return version


def activate_version(
    session: Session,
    *,
    version_id: int,
    app_settings: Settings,
    prompt_set_id: int | None = None,
) -> RewardModel:
    """Make a finished version the set's active one: score every candidate with it and
    refresh the routing priorities, all in one commit. `prompt_set_id`, when given, must be
    the version's set (404 otherwise); an archived set answers 409."""
    version = load_version(session, version_id)
    if prompt_set_id is not None and version.prompt_set_id != prompt_set_id:
        raise RewardModelNotFound(
            f"Reward model {version_id} is not a version of prompt set {prompt_set_id}."
        )
    prompt_set_service.load_writable_prompt_set(session, version.prompt_set_id)
    if version.status != "done":
        raise RewardModelNotReady(
            f"Reward model {version_id} is {version.status}; only a finished one can be active."
        )
    candidate_ids = _candidate_ids(session, version.prompt_set_id)
    scores = compute_scores(session, version, candidate_ids, app_settings)
    previous = active_version(session, version.prompt_set_id)
    _make_active(session, version, scores)
    audit.record(
        session,
        None,
        "reward_model.activated",
        Target("reward_model", version.id),
        {
            "before": {"active_version_id": previous.id if previous else None},
            "after": {"active_version_id": version.id},
        },
        details={"prompt_set_id": version.prompt_set_id, "scored_candidates": len(scores)},
    )
    session.commit()
    return version


def _make_active(session: Session, version: RewardModel, scores: Mapping[int, ScoreRow]) -> None:
    session.execute(
        update(RewardModel)
        .where(RewardModel.prompt_set_id == version.prompt_set_id, RewardModel.id != version.id)
        .values(is_active=False)
    )
    session.flush()
    version.is_active = True
    write_scores(session, version.id, scores, replace=True)
    session.flush()
    prompt_set = session.get(PromptSet, version.prompt_set_id)
    assert prompt_set is not None
    refresh_priorities(session, prompt_set)


def _candidate_ids(session: Session, prompt_set_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Candidate.id)
            .join(Prompt, Prompt.id == Candidate.prompt_id)
            .where(Prompt.prompt_set_id == prompt_set_id)
        )
    )


def rescore_set(session: Session, *, prompt_set_id: int, app_settings: Settings) -> int:
    """Score every candidate of the set with its active version again; 409 without one
    (or on an archived set)."""
    prompt_set = prompt_set_service.load_writable_prompt_set(session, prompt_set_id)
    version = active_version(session, prompt_set_id)
    if version is None:
        raise NoActiveRewardModel(
            f"Prompt set {prompt_set.name!r} has no active reward model; train one first."
        )
    scores = compute_scores(session, version, _candidate_ids(session, prompt_set_id), app_settings)
    write_scores(session, version.id, scores, replace=True)
    session.flush()
    refresh_priorities(session, prompt_set)
    session.commit()
    return len(scores)


def set_routing(session: Session, *, prompt_set_id: int, data: RoutingIn) -> PromptSet:
    """Change how the set hands out prompts and rewrite the priorities. Commits."""
    prompt_set = prompt_set_service.load_writable_prompt_set(session, prompt_set_id)
    prompt_set.routing, prompt_set.retrain_every = data.routing, data.retrain_every
    session.flush()
    refresh_priorities(session, prompt_set)
    session.commit()
    return prompt_set


# -- the end of a training run (the worker calls these) -------------------------------------


def finish_version(session: Session, *, version_id: int, outcome: Outcome) -> RewardModel:
    """Store a finished version; activate it unless it is worse than the active one.
    Commits.

    Worse means: on the held-out pairs *neither* version trained on (the new version's
    test pairs whose prompts are also in the active version's test split: a different
    test_fraction holds out other prompts), scored by both (the new version's scores and
    the active version's stored ones), the paired bootstrap 95% CI of the accuracy
    difference lies below 0 (issue 20). No common pair, or a CI that includes 0, is no
    evidence against the new version: it is activated. The comparison is stored either way.
    """
    version = load_version(session, version_id)
    version.metrics, version.training_data = outcome.metrics, outcome.training_data
    version.artifact_path = outcome.artifact_path
    version.status, version.finished_at, version.progress = "done", utcnow(), 1.0
    version.progress_message = "done"
    current = active_version(session, version.prompt_set_id)
    comparison = {} if current is None else _compare_with(session, current, version, outcome)
    version.metrics = {**outcome.metrics, "compared_with_active": comparison}
    upper = (comparison.get("ci95") or [0.0, 0.0])[1]
    if current is not None and upper < 0:
        version.progress_message = (
            f"kept inactive: on {comparison['pairs']} held-out pairs neither version trained "
            f"on, accuracy {comparison['this_accuracy']:.3f} vs the active version "
            f"{current.id}'s {comparison['its_accuracy']:.3f} (difference "
            f"{comparison['difference']:+.3f}, 95% CI {comparison['ci95']})"
        )[:200]
    else:
        session.flush()
        _make_active(session, version, outcome.scores)
    version_ended(session, version)
    session.commit()
    return version


def version_ended(session: Session, version: RewardModel) -> None:
    """reward_job.finished or .failed, in the transaction that ends the training (a
    cancelled one sends nothing: an admin asked for it)."""
    if version.status not in ("done", "failed"):
        return
    session.flush()  # is_active, as _make_active left it
    outcome = "finished" if version.status == "done" else "failed"
    data = {
        "reward_model_id": version.id,
        "prompt_set_id": version.prompt_set_id,
        "kind": version.kind,
        "status": version.status,
        "is_active": version.is_active,
        "error": version.error,
    }
    outbox.emit(session, events.job_event("reward", outcome), data)


def _compare_with(
    session: Session, current: RewardModel, new: RewardModel, outcome: Outcome
) -> dict[str, Any]:
    """The new version against the active one on the pairs neither trained on."""
    found: dict[str, Any] = {"version": current.id}
    test = outcome.test
    if test is None or len(test) == 0:
        return {**found, "pairs": 0, "reason": "the new version recorded no test pairs"}
    theirs = TrainOptions.model_validate(current.options)
    hashes = dict(
        session.execute(
            select(Prompt.id, Prompt.content_hash).where(
                Prompt.id.in_({int(p) for p in test.prompt_id})
            )
        ).all()
    )
    old_score = dict(
        session.execute(
            select(CandidateScore.candidate_id, CandidateScore.score).where(
                CandidateScore.reward_model_id == current.id
            )
        ).all()
    )
    new_score = {cid: row[0] for cid, row in outcome.scores.items()}
    keep = np.asarray(
        [
            int(p) in hashes
            and reward_data.split_for(
                hashes[int(p)], theirs.test_fraction, theirs.validation_fraction
            )
            == "test"
            and all(int(c) in old_score and int(c) in new_score for c in (chosen, rejected))
            for p, chosen, rejected in zip(test.prompt_id, test.chosen, test.rejected, strict=True)
        ],
        dtype=bool,
    )
    common = test.where(keep)
    if len(common) == 0:
        return {**found, "pairs": 0, "reason": "no held-out pair that neither version trained on"}

    def correct(score: dict[int, float]) -> np.ndarray:
        gaps = [
            score[int(c)] - score[int(r)]
            for c, r in zip(common.chosen, common.rejected, strict=True)
        ]
        return pair_accuracy(np.asarray(gaps))

    opts = TrainOptions.model_validate(new.options)
    paired = paired_difference(
        correct(new_score), correct(old_score), common.weight, common.prompt_id, seed=opts.seed
    )
    return {**found, **paired}


def fail_version(session: Session, *, version_id: int, reason: str) -> None:
    version = load_version(session, version_id)
    session.refresh(version)
    if version.status in ("done", "failed"):
        return
    cancelled = version.cancel_requested
    version.status = "cancelled" if cancelled else "failed"
    version.error = None if cancelled else reason[:2000]
    version.progress_message = "cancelled" if cancelled else "failed"
    version.finished_at = utcnow()
    version_ended(session, version)
    session.commit()


def fail_stale_versions(session: Session, *, stale_seconds: float) -> list[int]:
    """Running versions whose worker stopped beating: failed with the reason. Their
    prompt set's active version is untouched. Commits; returns the ids."""
    now = utcnow()
    stale = list(
        session.scalars(
            select(RewardModel).where(
                RewardModel.status == "running",
                RewardModel.heartbeat_at < now - dt.timedelta(seconds=stale_seconds),
            )
        )
    )
    for version in stale:
        version.status, version.finished_at = "failed", now
        version.error = (
            f"worker {version.worker_id} stopped during training (no heartbeat since "
            f"{version.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); the active version is unchanged."
        )
        version.progress_message = "failed"
        version_ended(session, version)
    session.commit()
    return [v.id for v in stale]


def queue_due_retrains(session: Session, *, min_comparisons: int) -> list[int]:
    """Queue a fast retrain for sets with `retrain_every` > 0 that gained at least that
    many annotations since their newest version, when none is queued or running."""
    queued = []
    sets = select(PromptSet).where(PromptSet.retrain_every > 0, PromptSet.status != "archived")
    for prompt_set in session.scalars(sets):
        versions = list_versions(session, prompt_set.id)
        if any(v.status in ACTIVE_STATUSES for v in versions):
            continue
        seen = max(
            ((v.training_data or {}).get("annotations", 0) for v in versions if v.kind == "fast"),
            default=0,
        )
        annotations = reward_data.annotation_count(session, prompt_set.id)
        if annotations - seen < prompt_set.retrain_every:
            continue
        if reward_data.comparison_count(session, prompt_set.id) < min_comparisons:
            continue
        last = next((v for v in versions if v.kind == "fast"), None)
        options = dict(last.options) if last else {"kind": "fast"}
        version = RewardModel(
            prompt_set_id=prompt_set.id,
            kind="fast",
            backbone=options.get("backbone", "smollm2"),
            options=parse_options(options).model_dump(),
            progress_message=f"retrain after {annotations - seen} new annotations",
        )
        session.add(version)
        session.flush()
        _record_training(session, version)  # the system's actor: no user asked
        queued.append(version.id)
    session.commit()
    return queued


def score_count(session: Session, version_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(CandidateScore)
            .where(CandidateScore.reward_model_id == version_id)
        )
        or 0
    )
