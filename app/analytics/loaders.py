"""Every row the statistics read, in one place.

The rest of app.analytics is pure functions over what these return. The dashboard, the
annotator tables, the researcher stats and the dataset card all read through here. The
counts come from the tallies the submit and skip paths keep current
(app.annotation.tallies: one row per finished assignment, per-set counters), summed in
SQL, so no request reads votes or comparisons one by one (issue #16).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVarTuple

import numpy as np
from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.analytics.leaderboard import Duels, style_of
from app.analytics.strength import ModelPair
from app.annotation import signal_tallies
from app.annotation.models import Annotation, Comparison
from app.annotation.signal_tallies import SignalRow
from app.annotation.tallies import (
    FLAG_COLUMNS,
    AnnotationHourTally,
    AnnotatorPromptTally,
    ModelPairTally,
    RankCoincidence,
)
from app.generation.models import GenerationJob
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.prompt_sets.ranking import Ranking

Ts = TypeVarTuple("Ts")


@dataclass
class Progress:
    prompts: int
    archived_prompts: int
    gold_prompts: int
    prompts_ready: int
    candidates: int
    candidates_generated: int
    annotations: int
    annotations_needed: int
    items_complete: int

    @property
    def annotation_share(self) -> float:
        return self.annotations / self.annotations_needed if self.annotations_needed else 0.0


class JobProgress(TypedDict):
    id: int
    status: str
    done: int
    failed: int
    total: int
    share: float
    tokens_per_second: float | None
    created_at: dt.datetime


@dataclass(frozen=True)
class SetTotals:
    """A prompt set's annotation counters (sums over app.annotation.tallies)."""

    annotations: int
    comparisons: int
    votes: int  # candidate pairs judged, ties included
    tie_votes: int
    peer_pairs: int  # twice the pairs of annotators who judged the same candidate pair
    peer_same: int  # ... of them who gave the same outcome (also doubled)
    all_bad: int
    judged: int  # candidate judgements: one annotator, one candidate
    flags: dict[str, int]  # flag kind -> candidate judgements flagged with it
    annotators: int
    prompts_annotated: int
    prompts_with_2plus: int


@dataclass(frozen=True)
class AnnotatorTally:
    """One annotator's counters, summed over their prompts."""

    annotator_id: int
    done: int
    skipped: int
    flagged: int
    agree: int
    agree_total: int
    median_seconds: float | None


@dataclass(frozen=True)
class GoldAnswer:
    annotator_id: int
    ranking: Ranking
    gold: Ranking | None


@dataclass(frozen=True)
class Person:
    username: str
    is_active: bool


def _count(session: Session, query: Select[Any]) -> int:
    return session.scalar(query) or 0


# --- one prompt set's progress --------------------------------------------------------------


def load_progress(session: Session, prompt_set_id: int, k: int) -> Progress:
    """Counts of prompts, candidates and annotations, and items that reached their seat
    target (k plus the seats escalation added, as the claim counts them) among active
    prompts: three SQL passes with FILTER clauses, annotations from the tallies."""
    active = Prompt.status == "active"
    prompts = session.execute(
        select(
            func.count().filter(active),
            func.count().filter(Prompt.status == "archived"),
            func.count().filter(active, Prompt.is_gold.is_(True)),
            func.count().filter(active, Prompt.candidates_ready.is_(True)),
            func.coalesce(func.sum(Prompt.extra_seats).filter(active), 0),
        ).where(Prompt.prompt_set_id == prompt_set_id)
    ).one()
    candidates = session.execute(
        select(func.count(), func.count().filter(Candidate.source == "generated"))
        .join(Prompt, Prompt.id == Candidate.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id, active)
    ).one()
    t = AnnotatorPromptTally
    annotations, complete = session.execute(
        select(
            func.coalesce(func.sum(t.prompt_annotations), 0),
            func.count().filter(t.prompt_annotations >= k + Prompt.extra_seats),
        )
        .join(Prompt, Prompt.id == t.prompt_id)
        .where(t.prompt_set_id == prompt_set_id, t.prompt_lead == 1, active)
    ).one()
    return Progress(
        prompts=prompts[0],
        archived_prompts=prompts[1],
        gold_prompts=prompts[2],
        prompts_ready=prompts[3],
        candidates=candidates[0],
        candidates_generated=candidates[1],
        annotations=int(annotations),
        annotations_needed=k * prompts[0] + int(prompts[4]),
        items_complete=complete,
    )


def load_peer_agreement(session: Session, prompt_set_id: int) -> tuple[int, int]:
    """(same outcomes, pairs) over every two annotators of the same candidate pair (both
    doubled): the pairwise agreement rate's parts."""
    t = AnnotatorPromptTally
    same, pairs = session.execute(
        select(
            func.coalesce(func.sum(t.peer_same), 0), func.coalesce(func.sum(t.peer_pairs), 0)
        ).where(t.prompt_set_id == prompt_set_id)
    ).one()
    return int(same), int(pairs)


def load_recent_jobs(session: Session, prompt_set_id: int, limit: int) -> list[JobProgress]:
    """The newest generation jobs of a set with their progress, newest first."""
    jobs = session.scalars(
        select(GenerationJob)
        .where(GenerationJob.prompt_set_id == prompt_set_id)
        .order_by(GenerationJob.created_at.desc(), GenerationJob.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": j.id,
            "status": j.status,
            "done": j.done,
            "failed": j.failed,
            "total": j.total,
            "share": (j.done + j.failed) / j.total if j.total else 0.0,
            "tokens_per_second": j.tokens_per_second,
            "created_at": j.created_at,
        }
        for j in jobs
    ]


# --- votes, comparisons, models -----------------------------------------------------------


def load_set_totals(session: Session, prompt_set_id: int) -> SetTotals:
    """One prompt set's annotation counters, summed over its tally rows in SQL."""
    t = AnnotatorPromptTally
    flags = [func.coalesce(func.sum(getattr(t, c)), 0) for c in FLAG_COLUMNS.values()]
    sums = [
        func.coalesce(func.sum(column), 0)
        for column in (
            t.submitted,
            t.comparisons,
            t.votes,
            t.tie_votes,
            t.peer_pairs,
            t.peer_same,
            t.all_bad,
            t.judged,
        )
    ]
    lead = t.prompt_lead == 1
    prompts = [
        func.count().filter(lead, t.prompt_annotations >= 1),
        func.count().filter(lead, t.prompt_annotations >= 2),
    ]
    in_set = t.prompt_set_id == prompt_set_id
    row = session.execute(select(*sums, *flags, *prompts).where(in_set)).one()
    # Distinct annotators through an index-only GROUP BY (set, annotator), not DISTINCT.
    people = select(t.annotator_id).where(in_set, t.submitted == 1).group_by(t.annotator_id)
    annotators = session.scalar(select(func.count()).select_from(people.subquery()))
    values = [int(v) for v in row]
    n_sums = len(sums)
    annotations, comparisons, votes, ties, peer_pairs, peer_same, all_bad, judged = values[:n_sums]
    return SetTotals(
        annotations=annotations,
        comparisons=comparisons,
        votes=votes,
        tie_votes=ties,
        peer_pairs=peer_pairs,
        peer_same=peer_same,
        all_bad=all_bad,
        judged=judged,
        flags=dict(zip(FLAG_COLUMNS, values[n_sums : n_sums + len(flags)], strict=True)),
        annotators=annotators or 0,
        prompts_annotated=values[-2],
        prompts_with_2plus=values[-1],
    )


def load_rank_coincidences(session: Session, prompt_set_id: int) -> dict[tuple[int, int, int], int]:
    """{(coders, rank a, rank b): n}: what Krippendorff's alpha needs of a set."""
    c = RankCoincidence
    rows = session.execute(
        select(c.coders, c.rank_a, c.rank_b, func.sum(c.n))
        .where(c.prompt_set_id == prompt_set_id)
        .group_by(c.coders, c.rank_a, c.rank_b)
    )
    return {(m, a, b): n for m, a, b, n in rows if n}


def load_model_wins(session: Session, prompt_set_id: int) -> dict[ModelPair, int]:
    """{(winner model, loser model): comparisons} across different named models."""
    m = ModelPairTally
    rows = session.execute(
        select(m.winner, m.loser, func.sum(m.n))
        .where(m.prompt_set_id == prompt_set_id)
        .group_by(m.winner, m.loser)
    )
    return {(w, lo): n for w, lo, n in rows if n}


def load_hourly_counts(
    session: Session, prompt_set_id: int, since: dt.datetime
) -> dict[dt.datetime, int]:
    """{hour (UTC): annotations} from `since` on, from the hourly tally."""
    h = AnnotationHourTally
    rows = session.execute(
        select(h.hour, func.sum(h.n))
        .where(h.prompt_set_id == prompt_set_id, h.hour >= since)
        .group_by(h.hour)
    )
    return {hour: n for hour, n in rows if n}


def count_annotators(session: Session, prompt_set_ids: Iterable[int]) -> int:
    """Distinct people who annotated any of these sets."""
    return _count(
        session,
        select(func.count(func.distinct(Annotation.annotator_id)))
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(Prompt.prompt_set_id.in_(list(prompt_set_ids))),
    )


def count_candidates_by_model(
    session: Session, prompt_set_ids: Iterable[int]
) -> list[tuple[str, int]]:
    """(model, candidates) over these sets, by model name; unnamed models as "(unknown)"."""
    rows = session.execute(
        select(Candidate.model, func.count(Candidate.id))
        .join(Prompt, Prompt.id == Candidate.prompt_id)
        .where(Prompt.prompt_set_id.in_(list(prompt_set_ids)))
        .group_by(Candidate.model)
        .order_by(Candidate.model)
    ).all()
    return [(m or "(unknown)", n) for m, n in rows]


# --- per annotator ------------------------------------------------------------------------


def load_annotator_tallies(session: Session, prompt_set_id: int | None) -> list[AnnotatorTally]:
    """Per person who annotated or skipped (in one set, or everywhere): their counters
    summed in SQL, and the median of their seconds per annotation."""
    t = AnnotatorPromptTally
    where = [] if prompt_set_id is None else [t.prompt_set_id == prompt_set_id]
    postgres = session.get_bind().dialect.name == "postgresql"
    median: Any = (
        func.percentile_cont(0.5).within_group(t.seconds).filter(t.submitted == 1)
        if postgres
        else literal(None)
    )
    rows = session.execute(
        select(
            t.annotator_id,
            func.sum(t.submitted),
            func.sum(t.skipped),
            func.sum(t.flagged),
            func.sum(t.agree),
            func.sum(t.agree_total),
            median,
        )
        .where(*where)
        .group_by(t.annotator_id)
    ).all()
    medians: dict[int, float] = {}
    if not postgres:  # no percentile function in SQLite: the seconds column is small
        seconds: dict[int, list[float]] = defaultdict(list)
        for annotator_id, s in session.execute(
            select(t.annotator_id, t.seconds).where(*where, t.submitted == 1)
        ):
            seconds[annotator_id].append(s)
        medians = {a: statistics.median(v) for a, v in seconds.items()}
    return [
        AnnotatorTally(
            a,
            int(done),
            int(skipped),
            int(flagged),
            int(agree),
            int(total),
            (float(m) if m is not None else None) if postgres else medians.get(a),
        )
        for a, done, skipped, flagged, agree, total, m in rows
    ]


def load_gold_answers(session: Session, prompt_set_id: int | None) -> list[GoldAnswer]:
    """Every annotation of a gold prompt, with the prompt's gold ranking."""
    query = (
        select(Annotation.annotator_id, Annotation.ranking, Prompt.gold_ranking)
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(Prompt.is_gold.is_(True))
    )
    if prompt_set_id is not None:
        query = query.where(Prompt.prompt_set_id == prompt_set_id)
    return [GoldAnswer(*row) for row in session.execute(query)]


def iter_signal_rows(
    session: Session, prompt_set_ids: Sequence[int] | None = None
) -> Iterator[SignalRow]:
    """Every annotation (of these sets, or everywhere) in submission order, streamed with
    a server-side cursor, with the characters each showed (app.annotation.signal_tallies:
    the rebuild and the tests' full recomputation read the same rows)."""
    return signal_tallies.iter_rows(session.connection(), prompt_set_ids)


def load_signal_tallies(
    session: Session, prompt_set_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """The signal tally rows (one per set and annotator) of these sets, or everywhere."""
    t = signal_tallies.AnnotatorSignalTally
    query = select(*t.__table__.columns)
    if prompt_set_ids is not None:
        query = query.where(t.prompt_set_id.in_(list(prompt_set_ids)))
    return [dict(row._mapping) for row in session.execute(query)]


def load_signal_patterns(
    session: Session, prompt_set_ids: Sequence[int] | None = None
) -> list[tuple[int, str, int]]:
    """(annotator, display pattern, items) over these sets, or everywhere."""
    p = signal_tallies.AnnotatorPatternTally
    query = select(p.annotator_id, p.pattern, func.sum(p.n)).group_by(p.annotator_id, p.pattern)
    if prompt_set_ids is not None:
        query = query.where(p.prompt_set_id.in_(list(prompt_set_ids)))
    return [(a, pattern, int(n)) for a, pattern, n in session.execute(query)]


def load_annotations_mark(
    session: Session, prompt_set_ids: Sequence[int] | None = None
) -> tuple[str, int, int | None, dt.datetime | None]:
    """(database, annotations, newest id, newest created_at) of these sets or everywhere:
    what changes whenever an annotation is added or removed, for caching what is computed
    from them."""
    stmt = select(func.count(), func.max(Annotation.id), func.max(Annotation.created_at))
    if prompt_set_ids is not None:
        stmt = stmt.join(Prompt, Prompt.id == Annotation.prompt_id).where(
            Prompt.prompt_set_id.in_(list(prompt_set_ids))
        )
    count, newest, latest = session.execute(stmt).one()
    database = session.get_bind().engine.url.render_as_string(hide_password=True)
    return database, int(count), newest, latest


def load_prompt_set_ids(session: Session) -> list[int]:
    return list(session.scalars(select(PromptSet.id)))


def load_people(session: Session, user_ids: Iterable[int]) -> dict[int, Person]:
    ids = list(user_ids)
    if not ids:
        return {}
    users = session.scalars(select(User).where(User.id.in_(ids)))
    return {u.id: Person(u.username, u.is_active) for u in users}


def candidate_label(generator: str, model: str) -> str:
    """Who made a candidate, for the leaderboard: its generator, else its model (imported)."""
    return generator or model or "imported"


def load_duels(session: Session, prompt_set_ids: Iterable[int]) -> Duels:
    """Every comparison of the sets between candidates of different generators, as arrays
    (generator indices, style features, prompt category), for the leaderboard."""
    set_ids = list(prompt_set_ids)
    names: dict[str, int] = {}
    label: dict[int, int] = {}
    style: dict[int, tuple[float, float, float, float]] = {}
    candidates = (
        select(Candidate.id, Candidate.generator, Candidate.model, Candidate.text)
        .join(Prompt, Prompt.id == Candidate.prompt_id)
        .where(Prompt.prompt_set_id.in_(set_ids))
    )
    for cid, generator, model, text in session.execute(candidates):
        label[cid] = names.setdefault(candidate_label(generator, model), len(names))
        style[cid] = style_of(text)
    categories: dict[str, int] = {}
    prompt_category: dict[int, int] = {}
    for pid, meta in session.execute(
        select(Prompt.id, Prompt.meta).where(Prompt.prompt_set_id.in_(set_ids))
    ):
        category = (meta or {}).get("category")
        if isinstance(category, str) and category:
            prompt_category[pid] = categories.setdefault(category, len(categories))
    rows = session.execute(
        select(
            Comparison.prompt_id, Comparison.chosen_candidate_id, Comparison.rejected_candidate_id
        )
        .join(Prompt, Prompt.id == Comparison.prompt_id)
        .where(Prompt.prompt_set_id.in_(set_ids))
    )
    winner, loser, cats, ws, ls = [], [], [], [], []
    for pid, chosen, rejected in rows:
        w, lo = label.get(chosen), label.get(rejected)
        if w is None or lo is None or w == lo:
            continue
        winner.append(w)
        loser.append(lo)
        cats.append(prompt_category.get(pid, -1))
        ws.append(style[chosen])
        ls.append(style[rejected])
    width = 4
    return Duels(
        names=list(names),
        winner=np.array(winner, dtype=np.int64),
        loser=np.array(loser, dtype=np.int64),
        winner_style=np.array(ws, dtype=np.float32).reshape(-1, width),
        loser_style=np.array(ls, dtype=np.float32).reshape(-1, width),
        category=np.array(cats, dtype=np.int64) if categories else None,
        categories=tuple(categories),
    )
