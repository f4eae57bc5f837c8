"""Stored annotations (with their assignment and comparisons) for dashboard and stats tests.

Written straight to the tables, as the submission code would leave them; the ranking
page itself belongs to the annotation domain.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotation.models import Annotation, Assignment, Comparison
from app.annotation.ranking import derive_comparisons
from app.core.db import utcnow
from app.prompt_sets.models import Prompt

_keys = itertools.count(1)


def make_annotation(
    session: Session,
    prompt: Prompt,
    annotator: User,
    ranking: list[list[int]],
    *,
    seconds: float = 20.0,
    flags: dict[str, Any] | None = None,
    created_at: dt.datetime | None = None,
) -> Annotation:
    now = created_at or utcnow()
    assignment = Assignment(
        prompt_id=prompt.id,
        annotator_id=annotator.id,
        status="submitted",
        leased_at=now - dt.timedelta(minutes=1),
        lease_expires_at=now + dt.timedelta(minutes=29),
        finished_at=now,
    )
    session.add(assignment)
    session.flush()
    annotation = Annotation(
        assignment_id=assignment.id,
        prompt_id=prompt.id,
        annotator_id=annotator.id,
        ranking=ranking,
        flags=flags or {},
        seconds_spent=seconds,
        idempotency_key=f"k{next(_keys)}",
        created_at=now,
    )
    session.add(annotation)
    session.flush()
    for c in derive_comparisons(ranking):
        session.add(
            Comparison(
                annotation_id=annotation.id,
                prompt_id=prompt.id,
                chosen_candidate_id=c.chosen_id,
                rejected_candidate_id=c.rejected_id,
                margin=c.margin,
                created_at=now,
            )
        )
    session.flush()
    return annotation


def make_skip(session: Session, prompt: Prompt, annotator: User) -> Assignment:
    now = utcnow()
    assignment = Assignment(
        prompt_id=prompt.id,
        annotator_id=annotator.id,
        status="skipped",
        leased_at=now - dt.timedelta(minutes=1),
        lease_expires_at=now + dt.timedelta(minutes=29),
        finished_at=now,
        skip_reason="not sure",
    )
    session.add(assignment)
    session.flush()
    return assignment


def make_lease(session: Session, prompt: Prompt, annotator: User) -> Assignment:
    now = utcnow()
    assignment = Assignment(
        prompt_id=prompt.id,
        annotator_id=annotator.id,
        status="leased",
        leased_at=now,
        lease_expires_at=now + dt.timedelta(minutes=30),
    )
    session.add(assignment)
    session.flush()
    return assignment
