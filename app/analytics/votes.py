"""Rankings as per-pair votes: the common currency of agreement and consensus."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation
from app.prompt_sets.models import Prompt
from app.prompt_sets.ranking import Ranking, rank_of


@dataclass(frozen=True)
class Vote:
    """One annotator's verdict on one candidate pair of a prompt (a < b by id).

    outcome: +1 a ranked better, -1 b ranked better, 0 tied.
    """

    prompt_id: int
    annotator_id: int
    a: int
    b: int
    outcome: int

    @property
    def pair(self) -> tuple[int, int, int]:
        return (self.prompt_id, self.a, self.b)


def votes_from_ranking(prompt_id: int, annotator_id: int, ranking: Ranking) -> list[Vote]:
    ranks = rank_of(ranking)
    ids = sorted(ranks)
    votes = []
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            diff = ranks[b] - ranks[a]
            outcome = (diff > 0) - (diff < 0)
            votes.append(Vote(prompt_id, annotator_id, a, b, outcome))
    return votes


def load_votes(
    session: Session, prompt_set_id: int, *, annotator_ids: Iterable[int] | None = None
) -> list[Vote]:
    """Every vote implied by the stored annotations of a prompt set."""
    query = (
        select(Annotation.prompt_id, Annotation.annotator_id, Annotation.ranking)
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id)
    )
    if annotator_ids is not None:
        query = query.where(Annotation.annotator_id.in_(list(annotator_ids)))
    votes: list[Vote] = []
    for prompt_id, annotator_id, ranking in session.execute(query):
        votes.extend(votes_from_ranking(prompt_id, annotator_id, ranking))
    return votes
