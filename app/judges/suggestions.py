"""Which judge ranking, if any, an annotator starts from (issue 13; off by default).

Passed into the annotation layer's lease path by app.main (that layer cannot import this
one): see app.annotation.suggestions.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.judges.models import Judge, JudgeRanking
from app.prompt_sets.ranking import Ranking


def suggested_order(session: Session, prompt_set_id: int, prompt_id: int) -> Ranking | None:
    """The ranking of the set's current judge version that suggests to annotators, for
    this prompt; None when no such judge ranked it. Gold items get one by the same rule
    (issue 20): a gold item without the hint every other item has would be recognisable,
    and gold then measures the annotator under the conditions of a real item (the submit
    records `suggestion_shown` either way). With several suggesting judges, the first by
    name wins."""
    return session.scalar(
        select(JudgeRanking.ranking)
        .join(Judge, Judge.id == JudgeRanking.judge_id)
        .where(
            Judge.prompt_set_id == prompt_set_id,
            Judge.is_current.is_(True),
            Judge.suggest_to_annotators.is_(True),
            JudgeRanking.prompt_id == prompt_id,
            JudgeRanking.status == "ranked",
        )
        .order_by(Judge.name, Judge.id)
        .limit(1)
    )
