"""A prompt set's comparisons as training pairs, with the export's rules and split.

The pairs are the `pairs` export's rows with its default filters: stored comparisons of
annotations not marked "all bad", gold prompts included, and the prompt-level stable hash
split (`app.prompt_sets.split.split_of`) with the same test fraction, so test pairs never
train. Inside the train split a second, independently salted hash split holds out the
validation prompts that choose the regularisation.

Ties: a comparison row only exists for candidates in different tie groups. With
`ties="half"` each tied pair of an annotation is added once each way with weight 0.5 (a
Bradley-Terry model has no tie outcome; half a win each way pulls the two scores together
and leaves the likelihood's optimum where a tie should put it). `ties="drop"` (default)
ignores ties, as the pairs export does by default.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation, Comparison
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.prompt_sets.ranking import rank_of, tied_pairs
from app.prompt_sets.split import split_of

VALIDATION_SALT = "ranklab-rm-validation"


@dataclass
class Pairs:
    """One entry per (annotation, chosen, rejected); arrays of equal length."""

    prompt_id: np.ndarray
    annotation_id: np.ndarray
    annotator_id: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    weight: np.ndarray
    split: np.ndarray  # "train" | "validation" | "test"

    def __len__(self) -> int:
        return len(self.chosen)

    def where(self, mask: np.ndarray) -> Pairs:
        return Pairs(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


@dataclass
class SetData:
    prompt_set_id: int
    system_prompt: str
    pairs: Pairs
    # prompt id -> (content_hash, text, messages)
    prompts: dict[int, tuple[str, str | None, Any]]
    # candidate id -> (prompt id, text)
    candidates: dict[int, tuple[int, str]]
    # prompt id -> [(annotator id, {candidate id: rank})]
    rankings: dict[int, list[tuple[int, dict[int, int]]]] = field(default_factory=dict)
    annotations: int = 0

    def count(self, split: str) -> int:
        return int((self.pairs.split == split).sum())

    def summary(self, options: dict[str, Any]) -> dict[str, Any]:
        """What the version saw, for the model card and the API."""
        strict = self.pairs.weight == 1.0
        return {
            "annotations": self.annotations,
            "comparisons": int(strict.sum()),
            "tie_pairs": int((~strict).sum()),
            "pairs": {s: self.count(s) for s in ("train", "validation", "test")},
            "prompts": {
                s: len(set(self.pairs.prompt_id[self.pairs.split == s].tolist()))
                for s in ("train", "validation", "test")
            },
            "export_options": {
                "format": "pairs",
                "split": "train",
                "test_fraction": options["test_fraction"],
                "ties": "drop" if options["ties"] == "drop" else "both",
                "include_all_bad": False,
                "exclude_gold": False,
            },
        }


def comparison_count(session: Session, prompt_set_id: int) -> int:
    """Comparisons a reward model could train on (all-bad annotations left out)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Comparison)
            .join(Annotation, Annotation.id == Comparison.annotation_id)
            .join(Prompt, Prompt.id == Comparison.prompt_id)
            .where(Prompt.prompt_set_id == prompt_set_id, Annotation.all_bad.is_(False))
        )
        or 0
    )


def annotation_count(session: Session, prompt_set_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Annotation)
            .join(Prompt, Prompt.id == Annotation.prompt_id)
            .where(Prompt.prompt_set_id == prompt_set_id)
        )
        or 0
    )


def split_for(content_hash: str, test_fraction: float, validation_fraction: float) -> str:
    if split_of(content_hash, test_fraction) == "test":
        return "test"
    if split_of(content_hash, validation_fraction, salt=VALIDATION_SALT) == "test":
        return "validation"
    return "train"


def load_set_data(
    session: Session,
    prompt_set_id: int,
    *,
    test_fraction: float,
    validation_fraction: float,
    ties: str = "drop",
) -> SetData:
    """Every prompt, candidate, kept annotation and pair of the set."""
    conn = session.connection()
    system_prompt = session.scalar(
        select(PromptSet.system_prompt).where(PromptSet.id == prompt_set_id)
    )
    prompts = {
        r.id: (r.content_hash, r.text, r.messages)
        for r in conn.execute(
            select(Prompt.id, Prompt.content_hash, Prompt.text, Prompt.messages).where(
                Prompt.prompt_set_id == prompt_set_id
            )
        )
    }
    candidates = {
        r.id: (r.prompt_id, r.text)
        for r in conn.execute(
            select(Candidate.id, Candidate.prompt_id, Candidate.text)
            .join(Prompt, Prompt.id == Candidate.prompt_id)
            .where(Prompt.prompt_set_id == prompt_set_id)
        )
    }
    kept = (
        select(Annotation.id, Annotation.prompt_id, Annotation.annotator_id, Annotation.ranking)
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id, Annotation.all_bad.is_(False))
    )
    annotations = conn.execute(kept.order_by(Annotation.id)).all()
    annotator_of = {a.id: a.annotator_id for a in annotations}
    rankings: dict[int, list[tuple[int, dict[int, int]]]] = defaultdict(list)
    for a in annotations:
        rankings[a.prompt_id].append((a.annotator_id, rank_of(a.ranking)))
    rows: list[tuple[int, int, int, int, int, float]] = [
        (r.prompt_id, r.annotation_id, annotator_of[r.annotation_id], r.chosen, r.rejected, 1.0)
        for r in conn.execute(
            select(
                Comparison.prompt_id,
                Comparison.annotation_id,
                Comparison.chosen_candidate_id.label("chosen"),
                Comparison.rejected_candidate_id.label("rejected"),
            )
            .join(Prompt, Prompt.id == Comparison.prompt_id)
            .where(Prompt.prompt_set_id == prompt_set_id)
            .order_by(Comparison.id)
        )
        if r.annotation_id in annotator_of
    ]
    if ties == "half":
        for a in annotations:
            for x, y in tied_pairs(a.ranking):
                rows.append((a.prompt_id, a.id, a.annotator_id, x, y, 0.5))
                rows.append((a.prompt_id, a.id, a.annotator_id, y, x, 0.5))
    return SetData(
        prompt_set_id=prompt_set_id,
        system_prompt=system_prompt or "",
        pairs=_pairs(rows, prompts, test_fraction, validation_fraction),
        prompts=prompts,
        candidates=candidates,
        rankings=dict(rankings),
        annotations=len(annotations),
    )


def _pairs(
    rows: list[tuple[int, int, int, int, int, float]],
    prompts: dict[int, tuple[str, str | None, Any]],
    test_fraction: float,
    validation_fraction: float,
) -> Pairs:
    split_of_prompt = {
        pid: split_for(h, test_fraction, validation_fraction) for pid, (h, _, _) in prompts.items()
    }
    cols = list(zip(*rows, strict=True)) if rows else [()] * 6
    ints = [np.asarray(c, dtype=np.int64) for c in cols[:5]]
    return Pairs(
        prompt_id=ints[0],
        annotation_id=ints[1],
        annotator_id=ints[2],
        chosen=ints[3],
        rejected=ints[4],
        weight=np.asarray(cols[5], dtype=np.float64),
        split=np.asarray([split_of_prompt[p] for p in cols[0]], dtype=object),
    )
