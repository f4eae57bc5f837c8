"""Scores of candidates by a version: stored per (version, candidate).

A fast version scores from cached embeddings (a candidate embedded once is scored again
by a matrix product); a full version runs its sequence classifier. New candidates of a
set with an active version (generated or imported after training) are scored by the
worker's background pass (`score_missing`), which then refreshes the set's priorities.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from sqlalchemy import delete, exists, insert, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.reward import artifacts, embeddings
from app.reward.data import load_set_data
from app.reward.head import Scored, ScoreRow, scored_rows
from app.reward.models import CandidateScore, RewardModel
from app.reward.routing import refresh_priorities
from app.reward.schemas import TrainOptions


def write_scores(
    session: Session,
    version_id: int,
    scores: Mapping[int, ScoreRow],
    *,
    replace: bool,
) -> None:
    """Store scores (flush, no commit); `replace` drops the version's earlier scores.
    A (score, spread) pair stores no per-head scores."""
    if replace:
        session.execute(delete(CandidateScore).where(CandidateScore.reward_model_id == version_id))
    if scores:
        session.connection().execute(
            insert(CandidateScore),
            [
                {
                    "reward_model_id": version_id,
                    "candidate_id": cid,
                    "score": row[0],
                    "spread": row[1],
                    "head_scores": _heads(row),
                }
                for cid, row in scores.items()
            ],
        )


def _heads(row: ScoreRow) -> list[float] | None:
    return list(row.heads) if isinstance(row, Scored) and row.heads else None


def scores_from_head(weights: np.ndarray, vectors: dict[int, np.ndarray]) -> dict[int, Scored]:
    """Scored per candidate: row 0 of the weights scores, the others are the bootstrap
    heads (their spread and each one's score)."""
    if not vectors:
        return {}
    ids = list(vectors)
    rows = scored_rows(np.vstack([vectors[i] for i in ids]) @ weights.T)
    return dict(zip(ids, rows, strict=True))


def compute_scores(
    session: Session, version: RewardModel, candidate_ids: list[int], app_settings: Settings
) -> Mapping[int, ScoreRow]:
    """Scores of the given candidates of the version's set (embedding what is missing)."""
    opts = TrainOptions.model_validate(version.options)
    if version.kind == "full":
        from app.reward.full import score_with_classifier

        return score_with_classifier(session, version, candidate_ids, app_settings)
    data = load_set_data(
        session,
        version.prompt_set_id,
        test_fraction=opts.test_fraction,
        validation_fraction=opts.validation_fraction,
    )
    wanted = [cid for cid in candidate_ids if cid in data.candidates]
    chats = embeddings.candidate_chats(
        data.candidates,
        data.prompts,
        data.system_prompt,
        wanted,
        embeddings.tokenizer_for(opts.backbone),
    )
    vectors = embeddings.embed_candidates(session, chats, opts, app_settings)
    weights = artifacts.load_head_weights(Path(version.artifact_path or ""))
    return scores_from_head(weights, vectors)


def unscored_candidates(session: Session, version: RewardModel) -> list[int]:
    scored = exists().where(
        CandidateScore.reward_model_id == version.id, CandidateScore.candidate_id == Candidate.id
    )
    return list(
        session.scalars(
            select(Candidate.id)
            .join(Prompt, Prompt.id == Candidate.prompt_id)
            .where(Prompt.prompt_set_id == version.prompt_set_id, ~scored)
            .order_by(Candidate.id)
        )
    )


def score_missing(session: Session, version: RewardModel, app_settings: Settings) -> int:
    """Score the set's candidates the version has no score for, refresh priorities.
    Adds to the caller's transaction; returns how many candidates were scored."""
    missing = unscored_candidates(session, version)
    if not missing:
        return 0
    write_scores(
        session, version.id, compute_scores(session, version, missing, app_settings), replace=False
    )
    prompt_set = session.get(PromptSet, version.prompt_set_id)
    assert prompt_set is not None
    refresh_priorities(session, prompt_set)
    return len(missing)


def prompt_scores(
    session: Session, version_id: int, prompt_ids: list[int]
) -> dict[int, list[tuple[int, float, float]]]:
    """prompt id -> [(candidate id, score, spread)] by the version, best first."""
    out: dict[int, list[tuple[int, float, float]]] = {}
    if not prompt_ids:
        return out
    for r in session.execute(
        select(Candidate.prompt_id, Candidate.id, CandidateScore.score, CandidateScore.spread)
        .join(CandidateScore, CandidateScore.candidate_id == Candidate.id)
        .where(CandidateScore.reward_model_id == version_id, Candidate.prompt_id.in_(prompt_ids))
        .order_by(Candidate.prompt_id, CandidateScore.score.desc())
    ):
        out.setdefault(r.prompt_id, []).append((r.id, r.score, r.spread))
    return out


def active_scores(
    session: Session, prompt_set_ids: tuple[int, ...]
) -> dict[int, tuple[float, int]]:
    """candidate id -> (score, version id) by each set's active version (for exports)."""
    rows = session.execute(
        select(CandidateScore.candidate_id, CandidateScore.score, RewardModel.id)
        .join(RewardModel, RewardModel.id == CandidateScore.reward_model_id)
        .where(RewardModel.prompt_set_id.in_(prompt_set_ids), RewardModel.is_active.is_(True))
    )
    return {r[0]: (r[1], r[2]) for r in rows}
