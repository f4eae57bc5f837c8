"""Rankings as per-pair votes: the common currency of agreement and consensus."""

from __future__ import annotations

from dataclasses import dataclass

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
