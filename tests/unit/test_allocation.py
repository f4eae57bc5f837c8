"""The balanced design: per prompt as even as k allows, pairs meeting about equally."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest

from app.generation.allocation import balanced_design, pair_meetings, plan_positions


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


def test_the_design_is_deterministic() -> None:
    assert balanced_design(20, 3, ["a", "b", "c", "d"]) == balanced_design(
        20, 3, ["a", "b", "c", "d"]
    )


def test_plan_keeps_wanted_candidates_and_fills_free_positions() -> None:
    plan, drop = plan_positions(["a", "b", "a", "b"], {0: "a", 1: "a", 2: "a"}, 4)
    assert drop == [2] and plan == {2: "b", 3: "b"}
    plan, drop = plan_positions(["a", "b"], {}, 2)
    assert drop == [] and plan == {0: "a", 1: "b"}
