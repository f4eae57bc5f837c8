"""Diversity: regenerate exact duplicate candidates a bounded number of times.

Candidates of one prompt already differ by seed (and temperature, if configured), but a
small model often repeats itself on short answers. Duplicates get fresh seeds up to
`max_duplicate_retries` times; whatever is still a duplicate is kept and marked, so a
prompt never ends up short of candidates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.generation.backends import (
    Backend,
    CandidateSpec,
    GeneratedText,
    PromptRequest,
    PromptResult,
)

if TYPE_CHECKING:
    from app.generation.claim import Claim


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def duplicate_positions(outputs: list[GeneratedText]) -> list[int]:
    """Positions whose text repeats an earlier candidate's (whitespace and case ignored)."""
    seen: set[str] = set()
    dups = []
    for out in sorted(outputs, key=lambda o: o.position):
        key = _normal(out.text)
        if key in seen:
            dups.append(out.position)
        seen.add(key)
    return dups


def regenerate_duplicates(
    backend: Backend, claim: Claim, results: list[PromptResult]
) -> list[PromptResult]:
    gen = claim.settings
    requests = {r.key: r for r in claim.requests}
    for retry in range(1, gen.max_duplicate_retries + 1):
        redo = []
        for result in results:
            dups = duplicate_positions(result.outputs) if not result.error else []
            if dups:
                specs = [
                    CandidateSpec(p, gen.seed_for(result.key, p, retry), gen.temperature_for(p))
                    for p in dups
                ]
                redo.append(PromptRequest(result.key, requests[result.key].messages, specs))
        if not redo:
            return results
        fresh = {r.key: r for r in backend.generate(redo)}
        for result in results:
            if result.key in fresh and not fresh[result.key].error:
                new = {o.position: o for o in fresh[result.key].outputs}
                result.outputs = [new.get(o.position, o) for o in result.outputs]
    for result in results:
        marked = set(duplicate_positions(result.outputs))
        for out in result.outputs:
            out.is_duplicate = out.position in marked
    return results
