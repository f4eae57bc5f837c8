"""A prompt set's judge quality figures, per judge version (rubric version): agreement
with the people's majority on prompts that have both, position-flip rate (pairwise
judges) and length bias against the people's on the same prompts (issue 13).

The math is app.analytics.judge_quality; app.judges.figures keeps its counts per judge
ranking (issue 22), so a view is one aggregate query over the set's judge rankings (two,
and the recomputation of the stale rankings, after people ranked judged prompts).
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from app.analytics.judge_quality import Share, flip_rate, share
from app.judges import figures


class JudgeQuality(TypedDict):
    judge_id: int
    name: str
    version: int
    mode: str
    is_current: bool
    rankings: int  # ranked prompts
    failures: int  # prompts whose output could not be parsed into a ranking
    prompts_with_people: int  # ranked by this version and by at least one person
    human_agreement: Share  # pairs where the judge gave the people's majority outcome
    position_flips: Share | None  # pairwise only: flips / pairs judged in both orders
    longer_wins_judge: Share  # pairs of unequal length the judge gave to the longer answer
    longer_wins_people: Share  # the same for people's comparisons on the same prompts


def judge_quality(session: Session, prompt_set_id: int) -> list[JudgeQuality]:
    """One entry per judge version of the set (by name, then version): sums of the figures
    stored per ranking (app.judges.figures), after recomputing the stale ones; a view that
    refreshed some commits them (derived rows only), so the next one finds none."""
    versions = session.execute(figures.sums_by_judge(prompt_set_id)).all()
    if any(v.stale for v in versions):
        figures.refresh(session, prompt_set_id)
        session.commit()
        versions = session.execute(figures.sums_by_judge(prompt_set_id)).all()
    return [
        {
            "judge_id": v.id,
            "name": v.name,
            "version": v.version,
            "mode": v.mode,
            "is_current": bool(v.is_current),
            "rankings": v.ranked,
            "failures": v.failed,
            "prompts_with_people": v.with_people,
            "human_agreement": share(v.agree, v.agree_total),
            "position_flips": flip_rate(v.flips, v.pairs) if v.mode == "pairwise" else None,
            "longer_wins_judge": share(v.judge_longer, v.judge_unequal),
            "longer_wins_people": share(v.people_longer, v.people_unequal),
        }
        for v in versions
    ]
