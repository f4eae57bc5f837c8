"""Handing out prompts: lease the next prompt of a set to an annotator.

Lease state is plain data in `assignment` rows (status + lease_expires_at), never a
counter someone must keep in step. A prompt's seats are taken by its submitted
assignments plus its *live* leases (status "leased", not yet expired); an expired lease
simply stops counting, so an abandoned prompt returns to the pool without a sweeper.
`app.annotation.leases.release_leases()` stays correct for the same reason.

Concurrency (issue 4):
- PostgreSQL: the candidate prompt row is claimed with `FOR UPDATE SKIP LOCKED`, so
  concurrent annotators take different prompts instead of queueing. Every lease of a
  prompt is written while holding that row lock, and the seat count is re-read after the
  lock is held (a fresh statement under READ COMMITTED sees every committed lease), so
  submitted + live leases never exceed k. The annotator's own user row is locked first,
  so two tabs of one person cannot each lease a different prompt at the same moment.
- SQLite: every transaction begins with BEGIN IMMEDIATE (app.core.db), one writer at a
  time, so the same read-then-write is serialised.
- The unique (prompt_id, annotator_id) row backs "never the same prompt twice".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotation.models import Assignment
from app.core.db import utcnow
from app.core.errors import Conflict
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Candidate, Prompt, PromptSet

# Roughly one item in GOLD_EVERY is a gold prompt (when one is left for the annotator).
GOLD_EVERY = 5
# Prompts claimed under a lock whose seats filled meanwhile are skipped; bounded retries.
_MAX_CLAIM_ATTEMPTS = 8
FINISHED = ("submitted", "skipped")


class PromptSetNotOpen(Conflict):
    code = "prompt_set_not_open"


@dataclass
class CandidateView:
    id: int
    label: str
    text: str


@dataclass
class Progress:
    done_today: int
    done_total: int
    remaining: int


@dataclass
class TaskView:
    """Everything an annotator sees for one leased item (no model names, no gold flag)."""

    assignment_id: int
    prompt_set_id: int
    prompt_id: int
    prompt_text: str | None
    prompt_messages: list[dict[str, Any]] | None
    candidates: list[CandidateView]
    leased_at: dt.datetime
    lease_expires_at: dt.datetime
    require_ratings: bool
    require_rationale: bool
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def as_json(self) -> dict[str, Any]:
        return {
            "assignment_id": self.assignment_id,
            "prompt_set_id": self.prompt_set_id,
            "prompt": {"text": self.prompt_text, "messages": self.prompt_messages},
            "candidates": [{"id": c.id, "label": c.label, "text": c.text} for c in self.candidates],
            "lease_expires_at": self.lease_expires_at.isoformat(),
            "require_ratings": self.require_ratings,
            "require_rationale": self.require_rationale,
            "idempotency_key": self.idempotency_key,
        }


def _live(now: dt.datetime) -> Any:
    return and_(Assignment.status == "leased", Assignment.lease_expires_at > now)


def _seats_taken(prompt_id: Any, now: dt.datetime) -> Any:
    """Submitted assignments plus live leases of a prompt (a scalar subquery or value)."""
    return (
        select(func.count())
        .select_from(Assignment)
        .where(
            Assignment.prompt_id == prompt_id,
            or_(Assignment.status == "submitted", _live(now)),
        )
        .scalar_subquery()
    )


def _open_prompts(prompt_set: PromptSet, annotator_id: int, *, gold: bool) -> Any:
    """Ready, active prompts of the set this annotator has not finished (submitted/skipped)."""
    mine_finished = exists().where(
        Assignment.prompt_id == Prompt.id,
        Assignment.annotator_id == annotator_id,
        Assignment.status.in_(FINISHED),
    )
    return select(Prompt.id).where(
        Prompt.prompt_set_id == prompt_set.id,
        Prompt.status == "active",
        Prompt.candidates_ready.is_(True),
        Prompt.is_gold.is_(gold),
        ~mine_finished,
    )


def _unfinished_rows(session: Session, prompt_set_id: int, annotator_id: int) -> list[Assignment]:
    """This annotator's rows in the set that are neither submitted nor skipped: a live
    lease, or lapsed/released ones that may be reused for the same prompt."""
    return list(
        session.scalars(
            select(Assignment)
            .join(Prompt, Prompt.id == Assignment.prompt_id)
            .where(
                Prompt.prompt_set_id == prompt_set_id,
                Assignment.annotator_id == annotator_id,
                Assignment.status.not_in(FINISHED),
            )
            .order_by(Assignment.id)
        )
    )


def _claim_regular(
    session: Session, prompt_set: PromptSet, annotator_id: int, now: dt.datetime
) -> int | None:
    """Lock the lowest-id regular prompt with a free seat.

    Id order is how "finish items before starting new ones" is kept cheaply: everyone
    takes the lowest open prompt, so prompts are started in id order and the started ones
    are always the lowest ids that still have a seat (a skipped or expired seat is
    refilled before a new prompt is opened). The scan stops at the first open prompt
    instead of counting seats for every prompt of the set to sort by them.
    """
    k = prompt_set.annotators_per_prompt
    skipped: list[int] = []
    for _ in range(_MAX_CLAIM_ATTEMPTS):
        taken = _seats_taken(Prompt.id, now)
        query = _open_prompts(prompt_set, annotator_id, gold=False).where(taken < k)
        if skipped:
            query = query.where(Prompt.id.not_in(skipped))
        prompt_id = session.scalars(
            query.order_by(Prompt.id).limit(1).with_for_update(of=Prompt, skip_locked=True)
        ).first()
        if prompt_id is None:
            return None
        # Re-count now that we hold the row lock: a lease committed after our statement's
        # snapshot is visible to this new statement (READ COMMITTED).
        if session.scalar(select(_seats_taken(prompt_id, now))) < k:
            return prompt_id
        skipped.append(prompt_id)
    return None


def _claim_gold(
    session: Session, prompt_set: PromptSet, annotator_id: int, now: dt.datetime
) -> int | None:
    """Gold prompts go to every annotator (no cap of k), so no row lock is needed."""
    query = _open_prompts(prompt_set, annotator_id, gold=True)
    return session.scalars(query.order_by(Prompt.id).limit(1)).first()


def _gold_turn(session: Session, prompt_set_id: int, annotator_id: int) -> bool:
    finished = session.scalar(
        select(func.count())
        .select_from(Assignment)
        .join(Prompt, Prompt.id == Assignment.prompt_id)
        .where(
            Prompt.prompt_set_id == prompt_set_id,
            Assignment.annotator_id == annotator_id,
            Assignment.status.in_(FINISHED),
        )
    )
    return (finished or 0) % GOLD_EVERY == GOLD_EVERY - 1


def _lease(
    session: Session,
    prompt_id: int,
    annotator_id: int,
    lease_seconds: int,
    now: dt.datetime,
    reusable: Assignment | None,
) -> Assignment:
    """Insert the lease, or reuse this annotator's own lapsed/released row for the prompt."""
    expires = now + dt.timedelta(seconds=lease_seconds)
    if reusable is None:
        row = Assignment(
            prompt_id=prompt_id,
            annotator_id=annotator_id,
            status="leased",
            leased_at=now,
            lease_expires_at=expires,
        )
        session.add(row)
        session.flush()
        return row
    # A guarded UPDATE, not an attribute write: if a late submit of the lapsed lease
    # committed while we waited for its row lock, PostgreSQL re-checks the WHERE on the
    # new row version and we must not turn that "submitted" back into a lease.
    reused = session.scalars(
        update(Assignment)
        .where(Assignment.id == reusable.id, Assignment.status.not_in(FINISHED))
        .values(status="leased", leased_at=now, lease_expires_at=expires, finished_at=None)
        .returning(Assignment)
    ).first()
    if reused is None:
        raise Conflict("Your earlier answer for this item was just saved; ask for the next item.")
    return reused


def lease_next_task(
    session: Session,
    *,
    prompt_set_id: int,
    annotator: User,
    now: dt.datetime | None = None,
) -> TaskView | None:
    """Lease the next prompt of the set to `annotator`; None when nothing is left for them.

    Asking again while holding a live lease returns that same item. Commits once.
    """
    now = now or utcnow()
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    if prompt_set.status != "active":
        raise PromptSetNotOpen(
            f"Prompt set {prompt_set.name!r} is {prompt_set.status}; it hands out no items."
        )
    # Serialise one annotator's own requests (two tabs) on PostgreSQL; no-op on SQLite.
    session.execute(select(User.id).where(User.id == annotator.id).with_for_update())
    rows = _unfinished_rows(session, prompt_set.id, annotator.id)
    live = [r for r in rows if r.status == "leased" and r.lease_expires_at > now]
    if live:
        view = task_view(session, live[0], prompt_set)
        session.commit()
        return view
    _mark_lapsed(session, rows, now)
    prompt_id = _pick(session, prompt_set, annotator.id, now)
    if prompt_id is None:
        session.commit()
        return None
    reusable = next((r for r in rows if r.prompt_id == prompt_id), None)
    try:
        assignment = _lease(
            session, prompt_id, annotator.id, prompt_set.lease_seconds, now, reusable
        )
    except IntegrityError as exc:  # pragma: no cover - guarded by the locks above
        session.rollback()
        raise Conflict("Someone else took this item at the same moment; ask again.") from exc
    view = task_view(session, assignment, prompt_set)
    session.commit()
    return view


def _mark_lapsed(session: Session, rows: list[Assignment], now: dt.datetime) -> None:
    """Tidy: lapsed leases say "expired" (they stopped counting the moment they lapsed).

    Guarded like `_lease`: a submit that lands meanwhile keeps its "submitted".
    """
    ids = [row.id for row in rows if row.status == "leased"]
    if ids:
        session.execute(
            update(Assignment)
            .where(
                Assignment.id.in_(ids),
                Assignment.status == "leased",
                Assignment.lease_expires_at <= now,
            )
            .values(status="expired")
            .execution_options(synchronize_session="fetch")
        )


def _pick(
    session: Session, prompt_set: PromptSet, annotator_id: int, now: dt.datetime
) -> int | None:
    if _gold_turn(session, prompt_set.id, annotator_id):
        gold = _claim_gold(session, prompt_set, annotator_id, now)
        if gold is not None:
            return gold
    regular = _claim_regular(session, prompt_set, annotator_id, now)
    if regular is not None:
        return regular
    return _claim_gold(session, prompt_set, annotator_id, now)


def candidate_order(annotator_id: int, prompt_id: int, candidate_ids: list[int]) -> list[int]:
    """A stable per-annotator shuffle: the same person sees the same order on reload."""
    digest = hashlib.sha256(f"{annotator_id}:{prompt_id}".encode()).hexdigest()
    ordered = sorted(candidate_ids)
    random.Random(digest).shuffle(ordered)
    return ordered


def candidate_labels(annotator_id: int, prompt_id: int, candidate_ids: list[int]) -> dict[int, str]:
    order = candidate_order(annotator_id, prompt_id, candidate_ids)
    return {cid: string.ascii_uppercase[i] for i, cid in enumerate(order)}


def task_view(session: Session, assignment: Assignment, prompt_set: PromptSet) -> TaskView:
    prompt = session.get(Prompt, assignment.prompt_id)
    assert prompt is not None
    rows = session.execute(
        select(Candidate.id, Candidate.text).where(Candidate.prompt_id == prompt.id)
    ).all()
    texts = {row.id: row.text for row in rows}
    labels = candidate_labels(assignment.annotator_id, prompt.id, list(texts))
    ordered = sorted(texts, key=lambda cid: labels[cid])
    return TaskView(
        assignment_id=assignment.id,
        prompt_set_id=prompt_set.id,
        prompt_id=prompt.id,
        prompt_text=prompt.text,
        prompt_messages=prompt.messages,
        candidates=[CandidateView(cid, labels[cid], texts[cid]) for cid in ordered],
        leased_at=assignment.leased_at,
        lease_expires_at=assignment.lease_expires_at,
        require_ratings=prompt_set.require_ratings,
        require_rationale=prompt_set.require_rationale,
    )


def progress(
    session: Session, *, prompt_set: PromptSet, annotator_id: int, now: dt.datetime | None = None
) -> Progress:
    """Done today / in total by this annotator, and how many items are still open to them."""
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    mine = (
        select(func.count())
        .select_from(Assignment)
        .join(Prompt, Prompt.id == Assignment.prompt_id)
        .where(
            Prompt.prompt_set_id == prompt_set.id,
            Assignment.annotator_id == annotator_id,
            Assignment.status == "submitted",
        )
    )
    done_total = session.scalar(mine) or 0
    done_today = session.scalar(mine.where(Assignment.finished_at >= midnight)) or 0
    submitted = (
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.prompt_id == Prompt.id, Assignment.status == "submitted")
        .scalar_subquery()
    )
    k = prompt_set.annotators_per_prompt
    regular = _open_prompts(prompt_set, annotator_id, gold=False).where(submitted < k)
    gold = _open_prompts(prompt_set, annotator_id, gold=True)
    remaining = sum(
        session.scalar(select(func.count()).select_from(q.subquery())) or 0 for q in (regular, gold)
    )
    return Progress(done_today=done_today, done_total=done_total, remaining=remaining)
