"""Training a fast version: embed, fit the head, evaluate, write the artifact.

Runs inside a worker (or `ranklab rm train` in-process); `progress(fraction, message)`
reports and raises TrainingCancelled when the version was cancelled. The embedding cache
is committed on its own after embedding (each cached row is complete by itself); the
version's outcome is written later by `app.reward.service.finish_version` in one commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.reward import artifacts, embeddings, evaluation
from app.reward.data import Pairs, SetData, load_set_data
from app.reward.errors import NotEnoughComparisons
from app.reward.head import Head, ScoreRow, fit_fixed, fit_head, pair_accuracy
from app.reward.models import RewardModel
from app.reward.schemas import TrainOptions

Progress = Callable[[float, str], None]
FAST_USAGE = (
    "A fast Ranklab reward model is a frozen backbone plus a linear Bradley-Terry head. "
    "Embed `chat_template(prompt + [assistant: answer])` with the backbone named in "
    "config.json (last-layer hidden state, pooling as configured), then "
    "`score = embedding @ weights[0]` with `weights` from head.npz; rows 1.. are the "
    "bootstrap heads whose standard deviation is the uncertainty."
)


@dataclass
class Outcome:
    metrics: dict[str, Any]
    training_data: dict[str, Any]
    artifact_path: str
    # candidate id -> its score (with the bootstrap heads' for a fast version)
    scores: Mapping[int, ScoreRow] = field(default_factory=dict)
    # the test pairs, for comparing with the active version on pairs neither trained on
    test: Pairs | None = None


def load_data(session: Session, version: RewardModel, opts: TrainOptions) -> SetData:
    data = load_set_data(
        session,
        version.prompt_set_id,
        test_fraction=opts.test_fraction,
        validation_fraction=opts.validation_fraction,
        ties=opts.ties,
    )
    if data.count("train") + data.count("validation") == 0 or data.count("test") == 0:
        raise NotEnoughComparisons(
            f"The split left {data.count('train') + data.count('validation')} training and "
            f"{data.count('test')} test pairs; both must be non-empty (collect more "
            f"rankings or change test_fraction)."
        )
    return data


def read_training_data(
    session: Session, version: RewardModel, progress: Progress
) -> tuple[TrainOptions, SetData]:
    """The version's options and its set's comparisons, then no transaction held: training
    runs for long, and an open one would keep SQLite's write lock."""
    opts = TrainOptions.model_validate(version.options)
    progress(0.02, "reading comparisons")
    data = load_data(session, version, opts)
    session.commit()
    return opts, data


def train_fast(
    session: Session,
    version: RewardModel,
    app_settings: Settings,
    progress: Progress,
    *,
    prompt_set_name: str,
) -> Outcome:
    opts, data = read_training_data(session, version, progress)
    tokenizer = embeddings.tokenizer_for(opts.backbone)
    chats = embeddings.candidate_chats(
        data.candidates, data.prompts, data.system_prompt, data.candidates, tokenizer
    )
    stats = embeddings.EmbeddingStats()
    vectors = embeddings.embed_candidates(
        session,
        chats,
        opts,
        app_settings,
        on_progress=lambda done, total: progress(
            0.05 + 0.75 * done / total, f"embedding {done}/{total} candidates"
        ),
        stats=stats,
        before_compute=session.commit,
    )
    session.commit()  # the embedding cache, complete row by row
    progress(0.82, "fitting the head")
    started = time.perf_counter()
    pairs = data.pairs
    fit = pairs.where(pairs.split != "test")
    test = pairs.where(pairs.split == "test")

    def matrix(ids: np.ndarray) -> np.ndarray:
        return np.vstack([vectors[int(i)] for i in ids]) if len(ids) else np.zeros((0, 1))

    head = fit_head(
        matrix(fit.chosen),
        matrix(fit.rejected),
        fit.weight,
        fit.split == "validation",
        prompt_id=fit.prompt_id,
        ensemble=opts.ensemble,
        seed=opts.seed,
    )
    head_seconds = time.perf_counter() - started
    progress(0.9, "evaluating")
    ids = list(vectors)
    scores = dict(zip(ids, head.scored(np.vstack([vectors[i] for i in ids])), strict=True))
    metrics = _metrics(data, test, scores, head, opts)
    metrics["learning_curve"] = learning_curve(fit, test, matrix, head.c, opts.seed)
    metrics["timing"] = {
        "embedding_seconds": round(stats.seconds, 2),
        "embedded": stats.computed,
        "cached": stats.cached,
        "tokens_per_second": round(stats.tokens / stats.seconds, 1) if stats.seconds else None,
        "head_seconds": round(head_seconds, 3),
    }
    training_data = data.summary(opts.model_dump())
    folder = artifacts.version_folder(app_settings.data_dir, version.id)
    card = {"id": version.id, "kind": "fast", "options": opts.model_dump(), "metrics": metrics}
    card["training_data"] = training_data
    with artifacts.writing(folder) as tmp:
        artifacts.save_head(tmp, head, {"backbone": opts.backbone, "pooling": opts.pooling})
        (tmp / "README.md").write_text(
            artifacts.model_card(prompt_set=prompt_set_name, version=card, usage=FAST_USAGE)
        )
    return Outcome(metrics, training_data, str(folder), scores, test)


def _metrics(
    data: SetData,
    test: Pairs,
    scores: Mapping[int, ScoreRow],
    head: Head,
    opts: TrainOptions,
) -> dict[str, Any]:
    score_of = {cid: row[0] for cid, row in scores.items()}
    return {
        "test": evaluation.model_accuracy(score_of, test, seed=opts.seed),
        "human": evaluation.human_reference(data, test, score_of, seed=opts.seed),
        "baselines": evaluation.baselines(data, test),
        "c": head.c,
        "validation_accuracy_by_c": head.validation_accuracy,
    }


def learning_curve(
    fit: Pairs,
    test: Pairs,
    matrix: Callable[[np.ndarray], np.ndarray],
    c: float,
    seed: int,
) -> list[dict[str, Any]]:
    """Held-out accuracy against the number of training comparisons (C fixed at the
    chosen value; subsets are prefixes of one seeded shuffle, so they nest)."""
    order = np.random.default_rng(seed).permutation(len(fit))
    xc, xr = matrix(fit.chosen), matrix(fit.rejected)
    tc, tr = matrix(test.chosen), matrix(test.rejected)
    points = []
    for n in evaluation.curve_sizes(len(fit)):
        take = order[:n]
        w = fit_fixed(xc[take], xr[take], fit.weight[take], c=c, seed=seed)
        correct = pair_accuracy((tc - tr) @ w)
        acc = evaluation.accuracy_with_ci(correct, test.weight, test.prompt_id, seed=seed)
        points.append({"comparisons": n, "accuracy": acc["accuracy"], "ci95": acc["ci95"]})
    return points
