"""Fair allocation: which generator makes which candidate of each prompt.

Each prompt's k candidates are spread over the G competing generators as evenly as k
allows (every generator floor(k/G) or ceil(k/G) times), and across the set the design is
balanced: each generator gets about the same number of candidates, and every pair of
generators meets in about the same number of prompts, so every pair is compared about
equally often. The design is greedy, deterministic (same prompts, same generators, same
plan, on every worker and every retry) and linear in the number of prompts.

Positions stay shuffled per annotator where the ranking page shows them, so the position
a generator gets carries no meaning for annotators.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import combinations
from math import comb

# Above this many subsets per prompt, choose the extra slots one generator at a time.
MAX_SUBSETS = 300


def balanced_design(prompts: int, k: int, names: Sequence[str]) -> list[list[str]]:
    """The generator names of each prompt's k candidates, for `prompts` prompts in order."""
    g = len(names)
    if g == 0:
        raise ValueError("no generators to allocate")
    base, extra = divmod(k, g)
    load = [0] * g  # prompts in which a generator took an extra slot
    meets = [[0] * g for _ in range(g)]  # prompts in which both took an extra slot
    subsets = list(combinations(range(g), extra)) if comb(g, extra) <= MAX_SUBSETS else None
    design = []
    for i in range(prompts):
        chosen = (
            _best_subset(subsets, i, load, meets)
            if subsets is not None
            else _grow_subset(extra, g, i, load, meets)
        )
        for a in chosen:
            load[a] += 1
            for b in chosen:
                if a != b:
                    meets[a][b] += 1
        design.append([n for n in names for _ in range(base)] + [names[j] for j in chosen])
    return design


def _best_subset(
    subsets: list[tuple[int, ...]], i: int, load: list[int], meets: list[list[int]]
) -> tuple[int, ...]:
    """The extra slots whose pairs met least, then the least loaded generators; ties rotate
    with the prompt so they do not always favour the first generators."""

    def cost(index: int) -> tuple[int, ...]:
        s = subsets[index]
        pairs = [meets[a][b] for a, b in combinations(s, 2)]
        loads = [load[a] for a in s]
        rotation = (index - i) % len(subsets)
        return (max(pairs, default=0), sum(pairs), max(loads, default=0), sum(loads), rotation)

    return subsets[min(range(len(subsets)), key=cost)]


def _grow_subset(
    extra: int, g: int, i: int, load: list[int], meets: list[list[int]]
) -> tuple[int, ...]:
    chosen: list[int] = []
    for _ in range(extra):
        chosen.append(
            min(
                (j for j in range(g) if j not in chosen),
                key=lambda j: (load[j], sum(meets[j][c] for c in chosen), (j - i) % g),
            )
        )
    return tuple(sorted(chosen))


def plan_positions(
    target: list[str], existing: dict[int, str], k: int
) -> tuple[dict[int, str], list[int]]:
    """Fit one prompt's target generators to the candidates it has.

    `existing` maps a stored candidate's position to its generator. Candidates whose
    generator the target still wants are kept; the others are returned as `drop` (the
    caller removes them only where that is allowed: prompts nobody has annotated). The
    free positions get the generators still missing. Returns (plan, drop).
    """
    wanted = Counter(target)
    keep: list[int] = []
    drop: list[int] = []
    for position in sorted(existing):
        name = existing[position]
        if wanted[name] > 0:
            wanted[name] -= 1
            keep.append(position)
        else:
            drop.append(position)
    missing = [n for n in dict.fromkeys(target) for _ in range(wanted[n])]
    free = [p for p in range(k) if p not in keep]
    return dict(zip(free, missing, strict=False)), drop


def pair_meetings(design: list[list[str]]) -> Counter[tuple[str, str]]:
    """How many prompts each pair of generators shares (for checks and the bench)."""
    out: Counter[tuple[str, str]] = Counter()
    for slots in design:
        present = sorted(set(slots))
        for i, a in enumerate(present):
            for b in present[i + 1 :]:
                out[(a, b)] += 1
    return out
