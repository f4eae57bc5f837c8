"""Each judge ranking's quality figures against the people's, stored on its row (issue 22),
so the dashboard sums them instead of re-reading every person's comparison per view.

Per ranking: pairs where the judge gave the people's majority outcome and pairs with a
majority (app.analytics.judge_quality.agreement_with_humans), and the length-bias counts of
the judge's and of the people's comparisons on the prompt (judge_length_bias,
human_length_bias): the same definitions, computed on one prompt at a time.

They depend on the people's rankings of the prompt, which the submit path counts on the
prompt row (`Prompt.human_rankings`, app.annotation.tallies) and nothing else: a submit adds
no work here. A ranking's figures are stale when its `figures_at` differs from that count;
`refresh` recomputes the stale ones of a set (the dashboard calls it before summing, so it
reads only the prompts annotated since the last view), the judge worker computes a new
ranking's at once, and `rebuild` all of them (the migration's back-fill, the tests'
reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.orm import Session

from app.analytics.judge_quality import (
    HumanVotes,
    agreement_with_humans,
    human_length_bias,
    judge_length_bias,
)
from app.annotation.models import Comparison
from app.judges.models import Judge, JudgeRanking
from app.prompt_sets.models import Candidate, Prompt

_RANKED = JudgeRanking.status == "ranked"
_STALE = JudgeRanking.figures_at != Prompt.human_rankings

_WRITE = (
    update(JudgeRanking)
    .where(JudgeRanking.id == bindparam("row"))
    .values(
        figures_at=bindparam("at"),
        agree=bindparam("a_count"),
        agree_total=bindparam("a_total"),
        judge_longer=bindparam("j_count"),
        judge_unequal=bindparam("j_total"),
        people_longer=bindparam("p_count"),
        people_unequal=bindparam("p_total"),
    )
)


def _people(conn: Connection, prompt_ids: list[int]) -> dict[int, HumanVotes]:
    """Per prompt: the people's ordered-pair wins and ranking count, read in ONE statement
    (one snapshot: a submit that lands meanwhile is in both or in neither)."""
    rows = conn.execute(
        select(
            Prompt.id,
            Prompt.human_rankings,
            Comparison.chosen_candidate_id,
            Comparison.rejected_candidate_id,
            func.count(Comparison.id),
        )
        .outerjoin(Comparison, Comparison.prompt_id == Prompt.id)
        .where(Prompt.id.in_(prompt_ids))
        .group_by(
            Prompt.id,
            Prompt.human_rankings,
            Comparison.chosen_candidate_id,
            Comparison.rejected_candidate_id,
        )
    )
    out: dict[int, HumanVotes] = {}
    for prompt_id, n, chosen, rejected, k in rows:
        votes = out.setdefault(prompt_id, HumanVotes(wins={}, annotations={prompt_id: n}))
        if chosen is not None:
            votes.wins[(prompt_id, chosen, rejected)] = k  # type: ignore[index]
    return out


def _lengths(conn: Connection, prompt_ids: list[int]) -> dict[int, int]:
    query = select(Candidate.id, func.length(Candidate.text)).where(
        Candidate.prompt_id.in_(prompt_ids)
    )
    return {cid: n for cid, n in conn.execute(query)}


def _compute(conn: Connection, rows: Sequence[Any]) -> None:
    """(ranking id, prompt id, ranking) rows -> their figures written."""
    prompt_ids = sorted({r.prompt_id for r in rows})
    people = _people(conn, prompt_ids)
    lengths = _lengths(conn, prompt_ids)
    out = []
    for row in rows:
        humans = people.get(row.prompt_id) or HumanVotes(wins={}, annotations={})
        agreement, _ = agreement_with_humans({row.prompt_id: row.ranking}, humans)
        judge = judge_length_bias([row.ranking], lengths)
        theirs = human_length_bias(humans, [row.prompt_id], lengths)
        n = humans.annotations.get(row.prompt_id, 0)
        out.append(
            {
                "row": row.id,
                "at": n,
                "a_count": agreement["count"],
                "a_total": agreement["total"],
                "j_count": judge["count"],
                "j_total": judge["total"],
                "p_count": theirs["count"],
                "p_total": theirs["total"],
            }
        )
    if out:
        out.sort(key=lambda r: r["row"])  # one lock order for concurrent refreshers
        conn.execute(_WRITE, out)


def _stale_rows(prompt_set_id: int | None, *, only_stale: bool) -> Any:
    query = (
        select(JudgeRanking.id, JudgeRanking.prompt_id, JudgeRanking.ranking)
        .join(Prompt, Prompt.id == JudgeRanking.prompt_id)
        .where(_RANKED)
        .order_by(JudgeRanking.id)
    )
    if only_stale:
        query = query.where(_STALE)
    if prompt_set_id is not None:
        query = query.where(Prompt.prompt_set_id == prompt_set_id)
    return query


def _in_batches(conn: Connection, query: Any, batch: int) -> int:
    rows = conn.execute(query).all()
    for start in range(0, len(rows), batch):
        _compute(conn, rows[start : start + batch])
    return len(rows)


def refresh(session: Session, prompt_set_id: int, *, batch: int = 2000) -> int:
    """Recompute the set's stale figures (in the caller's transaction); how many."""
    return _in_batches(session.connection(), _stale_rows(prompt_set_id, only_stale=True), batch)


def compute_ranking(session: Session, ranking_id: int) -> None:
    """One new ranking's figures (the worker, in the transaction that stores it, flushed)."""
    query = select(JudgeRanking.id, JudgeRanking.prompt_id, JudgeRanking.ranking).where(
        JudgeRanking.id == ranking_id, _RANKED
    )
    _compute(session.connection(), session.connection().execute(query).all())


def rebuild(conn: Connection, prompt_set_id: int | None = None, *, batch: int = 2000) -> int:
    """Every ranked ranking's figures from scratch (all sets, or one)."""
    return _in_batches(conn, _stale_rows(prompt_set_id, only_stale=False), batch)


def sums_by_judge(prompt_set_id: int) -> Any:
    """Per judge version of the set: the dashboard's counts and the figures' sums, plus
    how many of its rankings are stale (refresh them and ask again)."""
    with_people = _RANKED & (JudgeRanking.figures_at > 0)
    return (
        select(
            Judge.id,
            Judge.name,
            Judge.version,
            Judge.mode,
            Judge.is_current,
            func.count(JudgeRanking.id).filter(_RANKED).label("ranked"),
            func.count(JudgeRanking.id).filter(JudgeRanking.status == "failed").label("failed"),
            func.sum(JudgeRanking.position_flips).label("flips"),
            func.sum(JudgeRanking.pairs_judged).label("pairs"),
            func.count(JudgeRanking.id).filter(with_people).label("with_people"),
            func.coalesce(func.sum(JudgeRanking.agree).filter(with_people), 0).label("agree"),
            func.coalesce(func.sum(JudgeRanking.agree_total).filter(with_people), 0).label(
                "agree_total"
            ),
            func.coalesce(func.sum(JudgeRanking.judge_longer).filter(with_people), 0).label(
                "judge_longer"
            ),
            func.coalesce(func.sum(JudgeRanking.judge_unequal).filter(with_people), 0).label(
                "judge_unequal"
            ),
            func.coalesce(func.sum(JudgeRanking.people_longer).filter(with_people), 0).label(
                "people_longer"
            ),
            func.coalesce(func.sum(JudgeRanking.people_unequal).filter(with_people), 0).label(
                "people_unequal"
            ),
            func.count(JudgeRanking.id).filter(_RANKED & _STALE).label("stale"),
        )
        .outerjoin(JudgeRanking, JudgeRanking.judge_id == Judge.id)
        .outerjoin(Prompt, Prompt.id == JudgeRanking.prompt_id)
        .where(Judge.prompt_set_id == prompt_set_id)
        .group_by(Judge.id, Judge.name, Judge.version, Judge.mode, Judge.is_current)
        .order_by(Judge.name, Judge.version)
    )
