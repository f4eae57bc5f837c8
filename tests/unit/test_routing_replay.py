"""A replay of uncertainty routing on a simulated set (issue 20, item 8): frozen-backbone
embeddings are dominated by the prompt (every candidate of a prompt shares it), so the
bootstrap heads move the scores of one prompt's candidates together. Combining the two
per-candidate spreads with `hypot` as if they were independent overstated the spread of
the gap, capped u at 1 and tied most prompts at the top priority; the spread of the
per-head gaps does not."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np

from app.reward import routing
from app.reward.head import Scored, fit_head

PROMPTS, CANDIDATES, DIM, ANNOTATED = 200, 4, 32, 150


def _simulated_set(seed: int = 0):
    """Embeddings = a large per-prompt part + a small per-candidate part; two
    annotators per annotated prompt rank its candidates by a noisy hidden utility."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=DIM)
    prompt_part = 3.0 * rng.normal(size=(PROMPTS, DIM))
    x = prompt_part[:, None, :] + rng.normal(size=(PROMPTS, CANDIDATES, DIM))
    chosen, rejected, prompt_of, human = [], [], [], {}
    for p in range(ANNOTATED):
        human[p] = []
        for _annotator in range(2):
            utility = x[p] @ truth + rng.gumbel(size=CANDIDATES) * 2.0
            for a, b in itertools.combinations(range(CANDIDATES), 2):
                win, lose = (a, b) if utility[a] > utility[b] else (b, a)
                chosen.append(x[p, win])
                rejected.append(x[p, lose])
                prompt_of.append(p)
                human[p].append((p * CANDIDATES + win, p * CANDIDATES + lose))
    return x, np.array(chosen), np.array(rejected), np.array(prompt_of), human


def _hypot_rule(scores: dict[int, Scored], human: list[tuple[int, int]]) -> float:
    """The rule before issue 20, kept here as the baseline of the replay."""
    ranked = sorted(scores.values(), key=lambda row: row.score, reverse=True)
    gap = ranked[0].score - ranked[1].score
    margin_u = 1.0 - abs(2.0 / (1.0 + np.exp(-gap)) - 1.0)
    spread_gap = float(np.hypot(ranked[0].spread, ranked[1].spread))
    spread_u = min(1.0, spread_gap / gap) if gap > 0 else 1.0
    known = [(c, r) for c, r in human if c in scores and r in scores]
    disagree = sum(scores[c].score < scores[r].score for c, r in known) / len(known) if known else 0
    return float(max(margin_u, spread_u, disagree))


def _ties_at_top(priorities: list[int]) -> int:
    return Counter(priorities)[min(priorities)]


def test_replay_routing_priorities_no_longer_tie_at_the_top() -> None:
    x, chosen, rejected, prompt_of, human = _simulated_set()
    validation = prompt_of % 7 == 0
    head = fit_head(
        chosen, rejected, np.ones(len(chosen)), validation, prompt_id=prompt_of, ensemble=8, seed=0
    )
    rows = head.scored(x.reshape(PROMPTS * CANDIDATES, DIM))
    by_prompt = [
        {p * CANDIDATES + k: rows[p * CANDIDATES + k] for k in range(CANDIDATES)}
        for p in range(PROMPTS)
    ]
    before = [
        routing._priority_from(_hypot_rule(s, human.get(p, []))) for p, s in enumerate(by_prompt)
    ]
    after = [
        routing._priority_from(routing.uncertainty(s, human.get(p, [])))
        for p, s in enumerate(by_prompt)
    ]
    print(f"ties at the top priority: before {_ties_at_top(before)}, after {_ties_at_top(after)}")
    print(f"distinct priorities: before {len(set(before))}, after {len(set(after))}")
    assert _ties_at_top(before) >= 20
    assert _ties_at_top(after) <= 2
    assert len(set(after)) >= 0.85 * PROMPTS  # shares of human disagreement repeat
