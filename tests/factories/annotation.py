"""Leases and submissions with overridable defaults (service layer, real database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotation import assignment, submission
from app.annotation.assignment import TaskView
from app.annotation.models import Annotation, Assignment, Comparison
from app.annotation.submission import SubmissionInput, SubmissionResult


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
