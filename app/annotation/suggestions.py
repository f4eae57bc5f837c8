"""A judge's suggested starting order on the ranking screen (issue 13; opt-in per judge).

The annotation layer cannot read judges (they sit above it), so whoever builds the app
passes a `SuggestOrder` in (app.main: app.judges.suggestions.suggested_order) and the
lease path asks it when it shows an item. What it served is kept on the assignment
(`suggested_order`): a reload shows the same order, and the submit records
`annotation.suggestion_shown` from it. The labels (A, B, C...) stay the per-annotator
shuffle's; only the order the annotator starts editing from changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.annotation.models import Assignment
from app.prompt_sets.ranking import Ranking

# (session, prompt set id, prompt id) -> the ranking to start from, or None.
SuggestOrder = Callable[[Session, int, int], Ranking | None]


def starting_order(
    session: Session,
    *,
    assignment_id: int,
    stored: list[int] | None,
    prompt_set_id: int,
    prompt_id: int,
    labels: Mapping[int, str],
    suggest: SuggestOrder | None,
) -> list[int] | None:
    """The order this assignment starts from when it is a judge's suggestion, else None.

    An order already served for the assignment is kept. A new one is a flat order (ties
    broken by label: the screen starts from a strict order) and is written onto the
    assignment in the caller's transaction. A suggestion that does not rank exactly the
    prompt's candidates is not shown.
    """
    if stored is not None:
        return stored if sorted(stored) == sorted(labels) else None
    ranking = suggest(session, prompt_set_id, prompt_id) if suggest is not None else None
    if not ranking:
        return None
    order = [cid for group in ranking for cid in sorted(group, key=lambda c: labels.get(c, ""))]
    if sorted(order) != sorted(labels):
        return None
    session.execute(
        update(Assignment)
        .where(Assignment.id == assignment_id, Assignment.suggested_order.is_(None))
        .values(suggested_order=order)
        .execution_options(synchronize_session=False)
    )
    return order
