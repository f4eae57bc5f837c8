"""The database itself refuses rows that break the rules (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotation.models import Annotation, Assignment, Comparison
from app.core.db import utcnow
from app.generation.models import GenerationJob
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import make_user


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def world(session: Session) -> dict:
    """A prompt set with one prompt, two candidates, one annotator and a submitted ranking."""
    annotator = make_user(session)
    other = make_user(session)
    ps = PromptSet(name="constraints", candidates_per_prompt=2, annotators_per_prompt=2)
    session.add(ps)
    session.flush()
    prompt = Prompt(prompt_set_id=ps.id, text="Say hi", content_hash=_hash("Say hi"))
    session.add(prompt)
    session.flush()
    a = Candidate(prompt_id=prompt.id, position=0, text="hi")
    b = Candidate(prompt_id=prompt.id, position=1, text="hello")
    session.add_all([a, b])
    session.flush()
    now = utcnow()
    assignment = Assignment(
        prompt_id=prompt.id,
        annotator_id=annotator.id,
        lease_expires_at=now + dt.timedelta(minutes=5),
    )
    session.add(assignment)
    session.flush()
    annotation = Annotation(
        assignment_id=assignment.id,
        prompt_id=prompt.id,
        annotator_id=annotator.id,
        ranking=[[a.id], [b.id]],
        idempotency_key="k1",
    )
    session.add(annotation)
    session.flush()
    return dict(
        annotator=annotator,
        other=other,
        ps=ps,
        prompt=prompt,
        a=a,
        b=b,
        assignment=assignment,
        annotation=annotation,
        now=now,
    )


def _violations(w: dict):
    """(name, factory) pairs: each factory builds one row that must be refused."""
    now = w["now"]
    lease = now + dt.timedelta(minutes=5)
    return {
        "duplicate username": lambda: User(username=w["annotator"].username, role="annotator"),
        "unknown role": lambda: User(username="zed", role="overlord"),
        "duplicate prompt set name": lambda: PromptSet(name="constraints"),
        "too many candidates per prompt": lambda: PromptSet(name="x9", candidates_per_prompt=9),
        "one candidate per prompt": lambda: PromptSet(name="x1", candidates_per_prompt=1),
        "unknown prompt set status": lambda: PromptSet(name="xs", status="deleted"),
        "duplicate prompt content in a set": lambda: Prompt(
            prompt_set_id=w["ps"].id, text="Say hi", content_hash=_hash("Say hi")
        ),
        "prompt with neither text nor messages": lambda: Prompt(
            prompt_set_id=w["ps"].id, content_hash=_hash("empty")
        ),
        "prompt with both text and messages": lambda: Prompt(
            prompt_set_id=w["ps"].id,
            text="t",
            messages=[{"role": "user", "content": "t"}],
            content_hash=_hash("both"),
        ),
        "duplicate candidate position": lambda: Candidate(
            prompt_id=w["prompt"].id, position=0, text="again"
        ),
        "negative candidate position": lambda: Candidate(
            prompt_id=w["prompt"].id, position=-1, text="neg"
        ),
        "second assignment of a prompt to one annotator": lambda: Assignment(
            prompt_id=w["prompt"].id, annotator_id=w["annotator"].id, lease_expires_at=lease
        ),
        "unknown assignment status": lambda: Assignment(
            prompt_id=w["prompt"].id,
            annotator_id=w["other"].id,
            status="lost",
            lease_expires_at=lease,
        ),
        "second annotation for one assignment": lambda: Annotation(
            assignment_id=w["assignment"].id,
            prompt_id=w["prompt"].id,
            annotator_id=w["annotator"].id,
            ranking=[],
            idempotency_key="k2",
        ),
        "reused idempotency key": lambda: Annotation(
            assignment_id=w["assignment"].id,
            prompt_id=w["prompt"].id,
            annotator_id=w["annotator"].id,
            ranking=[],
            idempotency_key="k1",
        ),
        "comparison of a candidate with itself": lambda: Comparison(
            annotation_id=w["annotation"].id,
            prompt_id=w["prompt"].id,
            chosen_candidate_id=w["a"].id,
            rejected_candidate_id=w["a"].id,
            margin=1,
        ),
        "comparison with zero margin": lambda: Comparison(
            annotation_id=w["annotation"].id,
            prompt_id=w["prompt"].id,
            chosen_candidate_id=w["a"].id,
            rejected_candidate_id=w["b"].id,
            margin=0,
        ),
        "job done beyond its total": lambda: GenerationJob(
            prompt_set_id=w["ps"].id, total=1, done=2
        ),
        "unknown job status": lambda: GenerationJob(prompt_set_id=w["ps"].id, status="paused"),
        "candidate of a missing prompt": lambda: Candidate(prompt_id=10**9, position=0, text="x"),
    }


VIOLATIONS = [
    "duplicate username",
    "unknown role",
    "duplicate prompt set name",
    "too many candidates per prompt",
    "one candidate per prompt",
    "unknown prompt set status",
    "duplicate prompt content in a set",
    "prompt with neither text nor messages",
    "prompt with both text and messages",
    "duplicate candidate position",
    "negative candidate position",
    "second assignment of a prompt to one annotator",
    "unknown assignment status",
    "second annotation for one assignment",
    "reused idempotency key",
    "comparison of a candidate with itself",
    "comparison with zero margin",
    "job done beyond its total",
    "unknown job status",
    "candidate of a missing prompt",
]


@pytest.mark.parametrize("violation", VIOLATIONS)
def test_database_refuses(violation: str, session: Session, world: dict) -> None:
    row = _violations(world)[violation]()
    savepoint = session.begin_nested()
    session.add(row)
    with pytest.raises(IntegrityError):
        session.flush()
    savepoint.rollback()


def test_every_violation_is_listed(world: dict) -> None:
    assert sorted(_violations(world)) == sorted(VIOLATIONS)


def test_a_text_prompt_given_messages_none_is_stored_with_sql_null(
    session: Session, world: dict
) -> None:
    prompt = Prompt(
        prompt_set_id=world["ps"].id, text="Plain", messages=None, content_hash=_hash("Plain")
    )
    session.add(prompt)
    session.flush()  # the text-xor-messages check passes: None became NULL, not JSON 'null'
    assert session.get(Prompt, prompt.id).messages is None
