"""pair_agreements (the pairs export's per-prompt shortcut) gives pair_consensus' agreement."""

from __future__ import annotations

import random

from app.analytics.agreement import pair_consensus
from app.analytics.votes import votes_from_ranking
from app.exports.formats import pair_agreements
from app.exports.source import AnnotationRec


def _random_ranking(rng: random.Random, ids: list[int]) -> list[list[int]]:
    shuffled = rng.sample(ids, len(ids))
    groups: list[list[int]] = []
    for cid in shuffled:
        if groups and rng.random() < 0.3:
            groups[-1].append(cid)
        else:
            groups.append([cid])
    return groups


def test_pair_agreements_equal_pair_consensus_on_random_rankings_with_ties():
    rng = random.Random(7)
    checked = 0
    for prompt_id in range(200):
        ids = rng.sample(range(1, 50), rng.randint(2, 6))
        annotations = [
            AnnotationRec(i, 100 + i, _random_ranking(rng, ids), False, {}, {}, None, 1.0, None)
            for i in range(rng.randint(1, 5))
        ]
        votes = [
            v for a in annotations for v in votes_from_ranking(prompt_id, a.annotator_id, a.ranking)
        ]
        expected = {(a, b): t.agreement for (_, a, b), t in pair_consensus(votes).items()}
        assert pair_agreements(annotations) == expected
        checked += len(expected)
    assert checked > 1000
