"""Which judge ranking, if any, an annotator starts from (issue 13; off by default).

Passed into the annotation layer's lease path by app.main (that layer cannot import this
one): see app.annotation.suggestions.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
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
    params = {"set_id": prompt_set_id, "prompt": prompt_id}
    return session.connection().execute(_SUGGESTED, params).scalar()


# Asked on every item handed out: built once with bound parameters and run on the
# connection (issue 22: building it per call through the ORM cost about 0.4 ms of CPU).
_SUGGESTED = (
    select(JudgeRanking.ranking)
    .join(Judge, Judge.id == JudgeRanking.judge_id)
    .where(
        Judge.prompt_set_id == bindparam("set_id"),
        Judge.is_current.is_(True),
        Judge.suggest_to_annotators.is_(True),
        JudgeRanking.prompt_id == bindparam("prompt"),
        JudgeRanking.status == "ranked",
    )
    .order_by(Judge.name, Judge.id)
    .limit(1)
)
