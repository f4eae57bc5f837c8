"""Every row the statistics read, in one place.

The rest of app.analytics is pure functions over what these return. The dashboard, the
annotator tables, the researcher stats and the dataset card all read through here, so when
the numbers become incremental aggregates (issue #16) this is the one module to change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from app.accounts.models import User
from app.analytics.strength import ModelPair
from app.analytics.votes import Vote, votes_from_ranking
from app.annotation.models import Annotation, Assignment, Comparison
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
class AnnotationRow:
    """What the set statistics need of one stored annotation."""

    prompt_id: int
    annotator_id: int
    ranking: Ranking
    flags: dict[str, list[str]] | None
    all_bad: bool


@dataclass(frozen=True)
class WorkRow:
    """One annotation as the annotator table counts it."""

    annotator_id: int
    seconds_spent: float
    flags: dict[str, list[str]] | None


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


def _in_set(query: Select[*Ts], prompt_set_id: int | None, prompt_column: Any) -> Select[*Ts]:
    """Limit a query to one prompt set (None: every set) through its prompt column."""
    if prompt_set_id is None:
        return query
    return query.join(Prompt, Prompt.id == prompt_column).where(
        Prompt.prompt_set_id == prompt_set_id
    )


# --- one prompt set's progress --------------------------------------------------------------


def load_progress(session: Session, prompt_set_id: int, k: int) -> Progress:
    """Counts of prompts, candidates and annotations, and items with k annotations."""
    in_set = Prompt.prompt_set_id == prompt_set_id
    active = (in_set, Prompt.status == "active")
    count = select(func.count()).select_from(Prompt)
    candidates = select(func.count()).select_from(Candidate).join(Prompt).where(*active)
    annotations = select(func.count()).select_from(Annotation).join(Prompt).where(*active)
    per_prompt = (
        select(Annotation.prompt_id)
        .join(Prompt)
        .where(*active)
        .group_by(Annotation.prompt_id)
        .having(func.count() >= k)
        .subquery()
    )
    prompts = _count(session, count.where(*active))
    return Progress(
        prompts=prompts,
        archived_prompts=_count(session, count.where(in_set, Prompt.status == "archived")),
        gold_prompts=_count(session, count.where(*active, Prompt.is_gold.is_(True))),
        prompts_ready=_count(session, count.where(*active, Prompt.candidates_ready.is_(True))),
        candidates=_count(session, candidates),
        candidates_generated=_count(session, candidates.where(Candidate.source == "generated")),
        annotations=_count(session, annotations),
        annotations_needed=k * prompts,
        items_complete=_count(session, select(func.count()).select_from(per_prompt)),
    )


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


def load_annotation_times(
    session: Session, prompt_set_id: int, since: dt.datetime
) -> list[dt.datetime]:
    return list(
        session.scalars(
            select(Annotation.created_at)
            .join(Prompt)
            .where(Prompt.prompt_set_id == prompt_set_id, Annotation.created_at >= since)
        )
    )


# --- votes, comparisons, models -----------------------------------------------------------


def load_votes(
    session: Session, prompt_set_id: int, *, annotator_ids: Iterable[int] | None = None
) -> list[Vote]:
    """Every vote implied by the stored annotations of a prompt set."""
    query = (
        select(Annotation.prompt_id, Annotation.annotator_id, Annotation.ranking)
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id)
    )
    if annotator_ids is not None:
        query = query.where(Annotation.annotator_id.in_(list(annotator_ids)))
    votes: list[Vote] = []
    for prompt_id, annotator_id, ranking in session.execute(query):
        votes.extend(votes_from_ranking(prompt_id, annotator_id, ranking))
    return votes


def load_model_pairs(session: Session, prompt_set_id: int) -> list[ModelPair]:
    """(chosen model, rejected model) for every stored comparison across different models."""
    chosen, rejected = aliased(Candidate), aliased(Candidate)
    query = (
        select(chosen.model, rejected.model)
        .select_from(Comparison)
        .join(chosen, chosen.id == Comparison.chosen_candidate_id)
        .join(rejected, rejected.id == Comparison.rejected_candidate_id)
        .join(Prompt, Prompt.id == Comparison.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id, chosen.model != rejected.model)
    )
    return [(c, r) for c, r in session.execute(query)]


def load_annotation_rows(session: Session, prompt_set_id: int) -> list[AnnotationRow]:
    rows = session.execute(
        select(
            Annotation.prompt_id,
            Annotation.annotator_id,
            Annotation.ranking,
            Annotation.flags,
            Annotation.all_bad,
        )
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id)
    )
    return [AnnotationRow(*row) for row in rows]


def count_comparisons(session: Session, prompt_set_id: int) -> int:
    return _count(
        session,
        select(func.count(Comparison.id))
        .join(Prompt, Prompt.id == Comparison.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id),
    )


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


def load_work(session: Session, prompt_set_id: int | None) -> list[WorkRow]:
    query = select(Annotation.annotator_id, Annotation.seconds_spent, Annotation.flags)
    rows = session.execute(_in_set(query, prompt_set_id, Annotation.prompt_id))
    return [WorkRow(*row) for row in rows]


def load_skip_counts(session: Session, prompt_set_id: int | None) -> dict[int, int]:
    query = select(Assignment.annotator_id, func.count()).where(Assignment.status == "skipped")
    grouped = _in_set(query, prompt_set_id, Assignment.prompt_id).group_by(Assignment.annotator_id)
    return {annotator_id: n for annotator_id, n in session.execute(grouped)}


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


def load_prompt_set_ids(session: Session) -> list[int]:
    return list(session.scalars(select(PromptSet.id)))


def load_people(session: Session, user_ids: Iterable[int]) -> dict[int, Person]:
    ids = list(user_ids)
    if not ids:
        return {}
    users = session.scalars(select(User).where(User.id.in_(ids)))
    return {u.id: Person(u.username, u.is_active) for u in users}
