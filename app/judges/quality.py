"""A prompt set's judge quality figures, per judge version (rubric version): agreement
with the people's majority on prompts that have both, position-flip rate (pairwise
judges) and length bias against the people's on the same prompts (issue 13).

The queries live here (the judges' tables sit above app.analytics); the math is
app.analytics.judge_quality. Five aggregate queries per page, none per judge or prompt.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from typing_extensions import TypedDict

from app.analytics.judge_quality import (
    HumanVotes,
    Share,
    agreement_with_humans,
    flip_rate,
    human_length_bias,
    judge_length_bias,
)
from app.annotation.models import Annotation, Comparison
from app.judges.models import Judge, JudgeRanking
from app.prompt_sets.models import Candidate, Prompt
from app.prompt_sets.ranking import Ranking


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


def _judged_prompts(prompt_set_id: int) -> Select[Any]:
    return (
        select(JudgeRanking.prompt_id)
        .join(Judge, Judge.id == JudgeRanking.judge_id)
        .where(Judge.prompt_set_id == prompt_set_id, JudgeRanking.status == "ranked")
        .distinct()
    )


def _versions(session: Session, prompt_set_id: int) -> list[Any]:
    ranked = JudgeRanking.status == "ranked"
    return list(
        session.execute(
            select(
                Judge.id,
                Judge.name,
                Judge.version,
                Judge.mode,
                Judge.is_current,
                func.count(JudgeRanking.id).filter(ranked),
                func.count(JudgeRanking.id).filter(JudgeRanking.status == "failed"),
                func.sum(JudgeRanking.position_flips),
                func.sum(JudgeRanking.pairs_judged),
            )
            .outerjoin(JudgeRanking, JudgeRanking.judge_id == Judge.id)
            .where(Judge.prompt_set_id == prompt_set_id)
            .group_by(Judge.id, Judge.name, Judge.version, Judge.mode, Judge.is_current)
            .order_by(Judge.name, Judge.version)
        )
    )


def _rankings(session: Session, prompt_set_id: int) -> dict[int, dict[int, Ranking]]:
    """judge id -> {prompt id: ranking}, ranked ones only."""
    out: dict[int, dict[int, Ranking]] = defaultdict(dict)
    rows = session.execute(
        select(JudgeRanking.judge_id, JudgeRanking.prompt_id, JudgeRanking.ranking)
        .join(Judge, Judge.id == JudgeRanking.judge_id)
        .where(Judge.prompt_set_id == prompt_set_id, JudgeRanking.status == "ranked")
    )
    for judge_id, prompt_id, ranking in rows:
        if ranking is not None:  # always, for a ranked one (a check constraint)
            out[judge_id][prompt_id] = ranking
    return out


def _human_votes(session: Session, prompt_set_id: int) -> HumanVotes:
    """People's comparisons on the judged prompts, summed per ordered pair in SQL."""
    judged = _judged_prompts(prompt_set_id)
    wins = session.execute(
        select(
            Comparison.prompt_id,
            Comparison.chosen_candidate_id,
            Comparison.rejected_candidate_id,
            func.count(),
        )
        .where(Comparison.prompt_id.in_(judged))
        .group_by(
            Comparison.prompt_id,
            Comparison.chosen_candidate_id,
            Comparison.rejected_candidate_id,
        )
    )
    counts = session.execute(
        select(Annotation.prompt_id, func.count())
        .where(Annotation.prompt_id.in_(judged))
        .group_by(Annotation.prompt_id)
    )
    return HumanVotes(
        wins={(p, c, r): n for p, c, r, n in wins}, annotations={p: n for p, n in counts}
    )


def _lengths(session: Session, prompt_set_id: int) -> dict[int, int]:
    """Candidate id -> length in characters, for the judged prompts' candidates."""
    rows = session.execute(
        select(Candidate.id, func.length(Candidate.text))
        .join(Prompt, Prompt.id == Candidate.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id, Prompt.id.in_(_judged_prompts(prompt_set_id)))
    )
    return {cid: n for cid, n in rows}


def judge_quality(session: Session, prompt_set_id: int) -> list[JudgeQuality]:
    """One entry per judge version of the set (by name, then version)."""
    versions = _versions(session, prompt_set_id)
    if not versions:
        return []
    rankings = _rankings(session, prompt_set_id)
    humans = _human_votes(session, prompt_set_id)
    lengths = _lengths(session, prompt_set_id)
    out: list[JudgeQuality] = []
    for judge_id, name, version, mode, current, ranked, failed, flips, pairs in versions:
        mine = rankings.get(judge_id, {})
        agreement, prompts = agreement_with_humans(mine, humans)
        both = [p for p in mine if humans.annotations.get(p)]
        out.append(
            {
                "judge_id": judge_id,
                "name": name,
                "version": version,
                "mode": mode,
                "is_current": bool(current),
                "rankings": ranked,
                "failures": failed,
                "prompts_with_people": prompts,
                "human_agreement": agreement,
                "position_flips": flip_rate(flips, pairs) if mode == "pairwise" else None,
                "longer_wins_judge": judge_length_bias((mine[p] for p in both), lengths),
                "longer_wins_people": human_length_bias(humans, both, lengths),
            }
        )
    return out
