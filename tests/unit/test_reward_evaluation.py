"""Human references of a version's held-out accuracy (issue 20, item 9): inter-annotator
agreement and the accuracy of the other annotators' majority, on the same test pairs as
the model, each with its n and CI, pinned on a case worked by hand."""

from __future__ import annotations

import numpy as np

from app.reward import charts, evaluation
from app.reward.data import Pairs, SetData

# Prompt 1: annotators 10, 11, 12 rank a(1) above b(2), annotator 13 ranks b above a
# (q = 3/4). Prompt 2: annotators 20 and 21 both rank c(3) above d(4). Prompt 4:
# annotator 40 alone ranks e(5) above f(6).
RANKINGS = {
    1: [(10, {1: 0, 2: 1}), (11, {1: 0, 2: 1}), (12, {1: 0, 2: 1}), (13, {1: 1, 2: 0})],
    2: [(20, {3: 0, 4: 1}), (21, {3: 0, 4: 1})],
    4: [(40, {5: 0, 6: 1})],
}
ROWS = [  # (prompt, annotator, chosen, rejected)
    (1, 10, 1, 2),
    (1, 11, 1, 2),
    (1, 12, 1, 2),
    (1, 13, 2, 1),
    (2, 20, 3, 4),
    (2, 21, 3, 4),
    (4, 40, 5, 6),
]


def _test_pairs() -> Pairs:
    cols = list(zip(*ROWS, strict=True))
    ints = [np.asarray(c, dtype=np.int64) for c in cols]
    return Pairs(
        prompt_id=ints[0],
        annotation_id=np.arange(len(ROWS)),
        annotator_id=ints[1],
        chosen=ints[2],
        rejected=ints[3],
        weight=np.ones(len(ROWS)),
        split=np.asarray(["test"] * len(ROWS), dtype=object),
    )


def test_agreement_and_majority_accuracy_on_the_models_pairs_worked_by_hand() -> None:
    data = SetData(1, "", _test_pairs(), {}, {}, rankings=RANKINGS)
    # The model puts a, c and f first: right on 10-12 and 20-21, wrong on 13 and 40.
    score_of = {1: 1.0, 2: 0.0, 3: 1.0, 4: 0.0, 5: 0.0, 6: 1.0}
    out = evaluation.human_reference(data, data.pairs, score_of)
    # Prompt 4 has no other annotator: 6 pairs on 2 prompts count.
    # Agreement: 10-12 each see 2 of 3 others agree (2/3), 13 sees none (0); 20 and 21
    # see 1 of 1 (1): (3 * 2/3 + 0 + 2 * 1) / 6 = 4/6 = 0.6667 (about q^2 + (1-q)^2).
    agreement = out["inter_annotator_agreement"]
    assert agreement["agreement"] == 0.6667 and agreement["pairs"] == 6
    assert agreement["prompts"] == 2
    # Bootstrap over the 2 prompts: prompt 1 alone gives 2/4, prompt 2 alone 1.
    assert agreement["ci95"] == [0.5, 1.0]
    # Majority of the others: right for 10-12 (2 of 3 say a), wrong for 13 (3 of 3 say a),
    # right for 20 and 21: 5/6 = 0.8333 (about max(q, 1-q)); prompt 1 alone 3/4.
    majority = out["majority_accuracy"]
    assert majority["accuracy"] == 0.8333 and majority["pairs"] == 6
    assert majority["ci95"] == [0.75, 1.0]
    # The model on the same 6 pairs: 5 of 6 (its 40-pair miss is not among them).
    assert out["model_accuracy"]["accuracy"] == 0.8333 and out["model_accuracy"]["pairs"] == 6
    assert evaluation.model_accuracy(score_of, data.pairs)["accuracy"] == round(5 / 7, 4)


def test_a_split_of_the_other_annotators_counts_half_for_the_majority() -> None:
    # Annotator 1 ranks x(1) above y(2); of the others, 2 agrees and 3 does not.
    rankings = {7: [(1, {1: 0, 2: 1}), (2, {1: 0, 2: 1}), (3, {1: 1, 2: 0})]}
    pairs = Pairs(
        *(np.asarray([v]) for v in (7, 0, 1, 1, 2)),
        weight=np.ones(1),
        split=np.asarray(["test"], dtype=object),
    )
    out = evaluation.human_reference(SetData(1, "", pairs, {}, {}, rankings), pairs, {1: 1, 2: 0})
    assert out["inter_annotator_agreement"]["agreement"] == 0.5
    assert out["majority_accuracy"]["accuracy"] == 0.5


def test_the_accuracy_bars_show_agreement_and_majority_side_by_side_and_old_metrics() -> None:
    new = {
        "test": {"accuracy": 0.8, "ci95": [0.7, 0.9], "pairs": 120},
        "human": {
            "inter_annotator_agreement": {"agreement": 0.62, "ci95": [0.55, 0.7], "pairs": 90},
            "majority_accuracy": {"accuracy": 0.81, "ci95": [0.74, 0.88], "pairs": 90},
            "model_accuracy": {"accuracy": 0.79, "ci95": [0.7, 0.86], "pairs": 90},
        },
    }
    rows = charts.accuracy_bars(new)["rows"]
    assert [r["label"] for r in rows] == [
        "reward model",
        "reward model, same pairs as humans",
        "inter-annotator agreement",
        "majority of the other annotators",
    ]
    assert rows[2]["text"] == "62.0% [55.0%, 70.0%] n=90"
    assert rows[3]["text"] == "81.0% [74.0%, 88.0%] n=90"
    # A version trained before issue 20 stored only the leave-one-out agreement.
    old = {"test": {"accuracy": 0.8, "ci95": [0.7, 0.9]}, "ceiling": {"agreement": 0.75}}
    assert [r["label"] for r in charts.accuracy_bars(old)["rows"]] == [
        "reward model",
        "inter-annotator agreement",
    ]
