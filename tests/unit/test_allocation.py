"""The balanced design: per prompt as even as k allows, pairs meeting about equally."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest

from app.generation.allocation import balanced_design, pair_meetings, plan_positions
from tests.support.processes import calls_in_fresh_process


@pytest.mark.parametrize("generators", [2, 3, 4])
@pytest.mark.parametrize("k", [2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("prompts", [7, 31, 100])
def test_every_pair_meets_within_one_and_loads_are_even(generators, k, prompts) -> None:
    names = [f"g{i}" for i in range(generators)]
    design = balanced_design(prompts, k, names)
    assert len(design) == prompts and all(len(slots) == k for slots in design)
    for slots in design:  # within a prompt: floor(k/G) or ceil(k/G) each
        counts = Counter(slots)
        assert max(counts[n] for n in names) - min(counts[n] for n in names) <= 1
    meets = pair_meetings(design)
    per_pair = [meets[pair] for pair in combinations(names, 2)]
    assert max(per_pair) - min(per_pair) <= 1, per_pair
    load = Counter(n for slots in design for n in slots)
    assert max(load.values()) - min(load.values()) <= 1


def test_the_design_worked_by_hand() -> None:
    # Four generators, three slots: each prompt leaves one out. Prompt 0 takes the first
    # subset; then each takes a subset whose pairs met least (ties: least loaded, then
    # the rotation), so every pair meets in exactly two of the four prompts.
    assert balanced_design(4, 3, list("abcd")) == [
        ["a", "b", "c"],
        ["a", "b", "d"],
        ["a", "c", "d"],
        ["b", "c", "d"],
    ]
    # Two of four: a-b, then the pair with no generator used (c-d); then a-c, a-d, b-c and
    # b-d tie on every count, and the rotation (subset index - prompt index, mod 6)
    # picks a-d (subset 2 on prompt 2), not the first of them.
    assert balanced_design(3, 2, list("abcd")) == [["a", "b"], ["c", "d"], ["a", "d"]]
    # Five slots over two: two each, in name order, and the extra slot alternates.
    assert balanced_design(3, 5, ["a", "b"]) == [
        ["a", "a", "b", "b", "a"],
        ["a", "a", "b", "b", "b"],
        ["a", "a", "b", "b", "a"],
    ]
    # C(11, 5) = 462 subsets is above MAX_SUBSETS: slots are added one generator at a time.
    # Prompt 0 takes g0-g4 and prompt 1 g5-g9 (the least loaded, in rotation order from
    # the prompt's index); prompt 2 starts with the only unloaded one (g10), then g2
    # (rotation), g5 (has not met g2), g3 (all have met one chosen; rotation), g6 (met
    # only g5 of the chosen, where g0, g1 and g4 met two).
    names = [f"g{i}" for i in range(11)]
    assert balanced_design(3, 5, names) == [
        names[0:5],
        names[5:10],
        ["g2", "g3", "g5", "g6", "g10"],
    ]


@pytest.mark.parametrize("hash_seed", [1, 2])
def test_the_design_is_the_same_in_every_process(hash_seed: int) -> None:
    # Workers and retries plan the same set in different processes.
    args = (40, 3, ["g1", "g2", "g3", "g4", "g5"])
    elsewhere = calls_in_fresh_process(
        "app.generation.allocation:balanced_design", [args], hash_seed=hash_seed
    )
    assert elsewhere == [balanced_design(*args)]


def test_plan_keeps_wanted_candidates_and_fills_free_positions() -> None:
    plan, drop = plan_positions(["a", "b", "a", "b"], {0: "a", 1: "a", 2: "a"}, 4)
    assert drop == [2] and plan == {2: "b", 3: "b"}
    plan, drop = plan_positions(["a", "b"], {}, 2)
    assert drop == [] and plan == {0: "a", 1: "b"}
