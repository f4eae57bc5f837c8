"""The judge quality figures and the adjudication queue as computed before issue 22 (from
the annotations and comparisons themselves, per view): the reference the stored figures
(app.judges.figures) and the one-query queue (app.annotation.adjudication) are checked
against. Kept here, not in app/, so there is one computation in the product."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from app.analytics.judge_quality import (
    HumanVotes,
    agreement_with_humans,
    flip_rate,
    human_length_bias,
    judge_length_bias,
)
from app.annotation.disagreement import Disagreement, measure
from app.annotation.escalation import rule_of
from app.annotation.models import Adjudication, Annotation, Comparison
from app.judges.models import Judge, JudgeRanking
from app.judges.quality import JudgeQuality
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.prompt_sets.ranking import Ranking


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


def queue(session: Session, prompt_set_id: int) -> list[tuple[int, Disagreement]]:
    """(prompt id, disagreement) of the prompts waiting for adjudication, in id order."""
    prompt_set = session.get(PromptSet, prompt_set_id)
    assert prompt_set is not None
    k = prompt_set.annotators_per_prompt
    k_max = prompt_set.annotators_max
    if (k_max or 0) <= k:
        return []
    assert k_max is not None
    settled = exists().where(Adjudication.prompt_id == Prompt.id)
    prompts = session.scalars(
        select(Prompt.id)
        .where(
            Prompt.prompt_set_id == prompt_set.id,
            Prompt.is_gold.is_(False),
            Prompt.extra_seats >= k_max - k,
            ~settled,
        )
        .order_by(Prompt.id)
    ).all()
    rankings: dict[int, list[Ranking]] = defaultdict(list)
    for prompt_id, ranking in session.execute(
        select(Annotation.prompt_id, Annotation.ranking)
        .where(Annotation.prompt_id.in_(prompts))
        .order_by(Annotation.prompt_id, Annotation.id)
    ):
        rankings[prompt_id].append(ranking)
    out = []
    for prompt_id in prompts:
        mine = rankings.get(prompt_id, [])
        if len(mine) < k_max:
            continue
        found = measure(mine)
        if found.contested(rule_of(prompt_set)):
            out.append((prompt_id, found))
    return out
