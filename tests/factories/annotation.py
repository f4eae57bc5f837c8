"""Leases and submissions with overridable defaults, on a real database.

Two ways in: through the service layer (lease, lease_and_submit) for annotation tests, and
straight to the tables (make_annotation, make_skip, make_lease), exactly as the submission
service leaves them (tallies included), for dashboard, statistics and export tests that
need a given history.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotation import assignment, signal_tallies, submission, tallies
from app.annotation.assignment import TaskView
from app.annotation.models import Annotation, Assignment, Comparison
from app.annotation.submission import SubmissionInput, SubmissionResult
from app.core.db import utcnow
from app.prompt_sets.models import Candidate, Prompt
from app.prompt_sets.ranking import derive_comparisons

_keys = itertools.count(1)


def lease(session: Session, prompt_set_id: int, annotator: User, **kwargs: Any) -> TaskView:
    task = assignment.lease_next_task(
        session, prompt_set_id=prompt_set_id, annotator=annotator, **kwargs
    )
    assert task is not None, "expected an item to be left"
    return task


def submission_for(task: TaskView, **overrides: Any) -> SubmissionInput:
    """A valid submission: candidates ranked in the order shown (A best), no ties."""
    fields: dict[str, Any] = {
        "assignment_id": task.assignment_id,
        "ranking": [[c.id] for c in task.candidates],
        "idempotency_key": task.idempotency_key,
    }
    if task.require_ratings:
        fields["ratings"] = {str(c.id): 4 for c in task.candidates}
    if task.require_rationale:
        fields["rationale"] = "A is clearer."
    fields.update(overrides)
    return SubmissionInput(**fields)


def submission_json(task: TaskView, **overrides: Any) -> dict[str, Any]:
    return vars(submission_for(task, **overrides))


def lease_and_submit(
    session: Session, prompt_set_id: int, annotator: User, **overrides: Any
) -> SubmissionResult:
    task = lease(session, prompt_set_id, annotator)
    return submission.submit_annotation(
        session, annotator=annotator, data=submission_for(task, **overrides)
    )


def row_counts(session: Session) -> dict[str, int]:
    """Rows per annotation table, to assert that a rejection stored nothing."""
    out = {}
    for model in (Assignment, Annotation, Comparison):
        out[model.__tablename__] = session.scalar(select(func.count()).select_from(model)) or 0
    out["submitted"] = (
        session.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.status == "submitted")
        )
        or 0
    )
    return out


def make_annotation(
    session: Session,
    prompt: Prompt,
    annotator: User,
    ranking: list[list[int]],
    *,
    all_bad: bool = False,
    flags: dict[Any, list[str]] | None = None,
    ratings: dict[Any, float] | None = None,
    rationale: str | None = None,
    seconds: float = 42.0,
    created_at: dt.datetime | None = None,
    order_changed: bool | None = None,
    suggestion_shown: bool = False,
) -> Annotation:
    """A submitted assignment, its annotation and the comparisons the ranking implies."""
    when = created_at or utcnow()
    assignment_row = _assignment(session, prompt, annotator, "submitted", when)
    annotation = Annotation(
        assignment_id=assignment_row.id,
        prompt_id=prompt.id,
        annotator_id=annotator.id,
        ranking=ranking,
        all_bad=all_bad,
        flags={str(k): v for k, v in (flags or {}).items()},
        ratings={str(k): v for k, v in (ratings or {}).items()},
        rationale=rationale,
        seconds_spent=seconds,
        order_changed=order_changed,
        suggestion_shown=suggestion_shown,
        idempotency_key=f"key-{next(_keys)}",
        created_at=when,
    )
    session.add(annotation)
    session.flush()
    session.add_all(
        Comparison(
            annotation_id=annotation.id,
            prompt_id=prompt.id,
            chosen_candidate_id=c.chosen_id,
            rejected_candidate_id=c.rejected_id,
            margin=c.margin,
            created_at=when,
        )
        for c in derive_comparisons(ranking)
    )
    session.flush()
    tallies.record_change(session, prompt.id, new_annotator_id=annotator.id)
    chars = session.scalar(
        select(
            signal_tallies.prompt_chars()
            + select(func.coalesce(func.sum(func.length(Candidate.text)), 0))
            .where(Candidate.prompt_id == prompt.id)
            .scalar_subquery()
        ).where(Prompt.id == prompt.id)
    )
    signal_tallies.record_annotation(
        session.connection(),
        signal_tallies.SignalRow(
            annotator.id,
            prompt.prompt_set_id,
            prompt.id,
            ranking,
            seconds,
            int(chars or 0),
            order_changed,
            suggestion_shown,
        ),
    )
    return annotation


def make_skip(session: Session, prompt: Prompt, annotator: User) -> Assignment:
    row = _assignment(session, prompt, annotator, "skipped", utcnow())
    row.skip_reason = "not sure"
    session.flush()
    tallies.record_change(session, prompt.id)
    return row


def make_lease(session: Session, prompt: Prompt, annotator: User) -> Assignment:
    return _assignment(session, prompt, annotator, "leased", None)


def _assignment(
    session: Session, prompt: Prompt, annotator: User, status: str, finished_at: dt.datetime | None
) -> Assignment:
    start = (finished_at or utcnow()) - dt.timedelta(minutes=1)
    row = Assignment(
        prompt_id=prompt.id,
        annotator_id=annotator.id,
        status=status,
        leased_at=start,
        lease_expires_at=start + dt.timedelta(minutes=30),
        finished_at=finished_at,
    )
    session.add(row)
    session.flush()
    return row
