"""Rows of the layers above that hold a prompt's exact candidates (issue 20, item 12).

A judge ranking names candidate ids; when a prompt's candidates are replaced (regenerated,
or a generator's share made again) it ranks answers nobody sees any more and must go in
the same transaction. Those tables live in layers this one cannot import, so they register
a function here next to their table, and whoever deletes candidates calls
`candidates_replaced` after the delete (after the prompt row is locked or updated, so a
writer that locks the prompt first is waited for, and its row is seen and deleted).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

# (session, prompt ids whose candidates were deleted) -> None; adds and flushes only.
CandidatesReplaced = Callable[[Session, list[int]], None]

_dependents: list[CandidatesReplaced] = []


def on_candidates_replaced(fn: CandidatesReplaced) -> CandidatesReplaced:
    """Register `fn` (a decorator): called with the prompt ids whenever their candidates go."""
    if fn not in _dependents:
        _dependents.append(fn)
    return fn


def candidates_replaced(session: Session, prompt_ids: list[int]) -> None:
    """Drop what the registered layers derived from these prompts' old candidates."""
    if prompt_ids:
        for fn in _dependents:
            fn(session, prompt_ids)
