"""Recording a ranking (or a skip) for a leased assignment, in one transaction.

The API (`POST /api/v1/annotations`) and the browser form call the same functions here.
Every check of the input runs before the rows are written; the one write that comes first
(closing the lease, which also reads the database's clock) is rolled back with any
rejection, so a rejection leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import Row, Table, bindparam, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from app.accounts.models import User
from app.annotation import signal_tallies, standing, tallies, webhook_events
from app.annotation.assignment import (
    FINISHED,
    PromptSetNotOpen,
    SetLike,
    TaskView,
    candidate_labels,
    lease_next_task,
)
from app.annotation.escalation import escalate_if_contested
from app.annotation.models import (
    FLAG_KINDS,
    MAX_RATIONALE_CHARS,
    Annotation,
    Assignment,
    Comparison,
)
from app.annotation.signal_tallies import SignalRow
from app.annotation.suggestions import SuggestOrder
from app.core import metrics
from app.core.db import DatabaseClock, UTCDateTime, db_now, retry_once_on_conflict, utcnow
from app.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.prompt_sets.ranking import derive_comparisons, validate_ranking

RATING_MIN, RATING_MAX = 1, 7
MAX_SKIP_REASON_CHARS = 500
MAX_SECONDS = 7 * 24 * 3600


class AssignmentNotFound(NotFound):
    code = "assignment_not_found"


class NotYourAssignment(NotAllowed):
    code = "not_your_assignment"


class AssignmentClosed(Conflict):
    """Already submitted or skipped."""

    code = "assignment_closed"


class LeaseExpired(Conflict):
    code = "lease_expired"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"


class AnnotationInvalid(InvalidInput):
    code = "annotation_invalid"


@dataclass
class SubmissionInput:
    assignment_id: int
    ranking: Any
    all_bad: bool = False
    flags: dict[str, list[str]] = field(default_factory=dict)
    ratings: dict[str, int] = field(default_factory=dict)
    rationale: str | None = None
    # The client's own timing: stored as annotation.client_seconds_spent, for reference
    # only; the server measures seconds_spent itself (issue 20).
    seconds_spent: float | None = None
    # Did the annotator place or move anything? None: the client did not say.
    order_changed: bool | None = None
    # Without a key, retries of the same assignment still collapse into one annotation.
    idempotency_key: str | None = None


@dataclass
class SubmissionResult:
    annotation_id: int
    assignment_id: int
    prompt_id: int
    comparisons: int
    created: bool  # False: an earlier submission with the same key was returned
    prompt_set_id: int | None = None  # set by store_annotation, for submit_and_next

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "annotation_id": self.annotation_id,
            "assignment_id": self.assignment_id,
            "prompt_id": self.prompt_id,
            "comparisons": self.comparisons,
            "created": self.created,
        }


class _Owned(Protocol):
    annotator_id: int


OwnedRow = TypeVar("OwnedRow", bound=_Owned)


def own_assignment(row: OwnedRow | None, assignment_id: int, annotator: User) -> OwnedRow:
    """The one ownership rule, for an Assignment or a row read with its annotator_id:
    a missing assignment is AssignmentNotFound (404), another annotator's is
    NotYourAssignment (403)."""
    if row is None:
        raise AssignmentNotFound(f"Assignment {assignment_id} does not exist.")
    if row.annotator_id != annotator.id:
        raise NotYourAssignment(f"Assignment {assignment_id} belongs to another annotator.")
    return row


def load_own_assignment(
    session: Session, assignment_id: int, annotator: User, *, live: bool = False
) -> Assignment:
    """The annotator's own assignment (404/403 otherwise). With `live`, it must also still
    be leased and unexpired: AssignmentClosed or LeaseExpired (409) otherwise."""
    row = own_assignment(session.get(Assignment, assignment_id), assignment_id, annotator)
    if live:
        _check_open(row, db_now(session))
    return row


def _lock_assignment(session: Session, assignment: Assignment) -> Assignment:
    """Re-read the row under FOR UPDATE (PostgreSQL): a double-clicked submit waits here
    for the first one and then sees its outcome."""
    return session.scalars(
        select(Assignment)
        .where(Assignment.id == assignment.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


# The two locks of a submit, built once with bound parameters (no per-request statement
# building or cache keys).
_ASSIGNMENT: BindParameter[int] = bindparam("assignment")
_WHO: BindParameter[int] = bindparam("who")

# The annotator's user row, locked first: the lock order of app.annotation.assignment
# (user, prompt, assignment), which the claim and deactivating the annotator follow too.
# It also serialises one annotator's own submits, so a gold answer's standing is decided
# by a transaction that already holds the lock (issue 20, items 3 and 7).
_LOCK_ANNOTATOR = select(User.id).where(User.id == _WHO).with_for_update()

# The prompt row of the assignment, locked (the lease path writes leases under the same
# lock), with its set and its candidate ids. Taken before the assignment row, in the lease
# path's order: no deadlock. With it, a submit near the lease's expiry and another
# annotator's lease of the freed seat are serialised: whichever comes second sees the first.
_LOCK_PROMPT = (
    select(
        PromptSet.id.label("prompt_set_id"),
        PromptSet.require_ratings,
        PromptSet.require_rationale,
        PromptSet.annotators_per_prompt,
        PromptSet.annotators_max,
        PromptSet.escalate_below_tau,
        PromptSet.escalate_on_split_top,
        Prompt.is_gold,
        Prompt.extra_seats,
        Assignment.annotator_id,
        Assignment.prompt_id,
        Prompt.is_gold,
        Candidate.id.label("candidate_id"),
        # Characters shown, for the speed signal's tally (issue 22).
        signal_tallies.prompt_chars().label("prompt_chars"),
        func.length(Candidate.text).label("candidate_chars"),
    )
    .join(Prompt, Prompt.prompt_set_id == PromptSet.id)
    .join(Assignment, Assignment.prompt_id == Prompt.id)
    .outerjoin(Candidate, Candidate.prompt_id == Prompt.id)
    .where(Assignment.id == _ASSIGNMENT)
    .with_for_update(of=Prompt)
)

# The assignment row under FOR UPDATE: a double-clicked submit waits here for the first
# one and then sees its outcome (the row is re-read once the lock is granted). `key_used`
# says whether this annotator already stored something under the idempotency key; it is
# read from the statement's snapshot, so a "submitted" status is re-checked by _replay.
_LOCK_ASSIGNMENT = (
    select(
        Assignment.id,
        Assignment.prompt_id,
        Assignment.status,
        Assignment.leased_at,
        Assignment.lease_expires_at,
        Assignment.suggested_order.is_not(None).label("suggestion_shown"),
        exists()
        .where(Annotation.annotator_id == _WHO, Annotation.idempotency_key == bindparam("key"))
        .label("key_used"),
    )
    .where(Assignment.id == _ASSIGNMENT)
    .with_for_update(of=Assignment)
)


# The writes of a submit: plain Core statements (the ORM's unit of work and bulk paths
# cost more CPU than the rows they write). A request's session holds none of these rows;
# an Assignment that a caller's session does hold is expired (see _expire_held).
_INSERT_ANNOTATION = insert(cast(Table, Annotation.__table__)).returning(Annotation.id)
# RETURNING makes SQLAlchemy send the rows as one multi-row INSERT ("insertmanyvalues")
# instead of the driver's executemany, which costs several times more CPU here.
_INSERT_COMPARISON = insert(cast(Table, Comparison.__table__)).returning(Comparison.id)
# Closing the lease is the submit's first write, and it reads the database's clock for the
# whole submit (issue 22): `finished_at` is `clock_timestamp()` evaluated by this UPDATE, so
# after every lock of the submit is held (the assignment row is already ours, the UPDATE
# never waits), returned by the same round trip instead of a `SELECT clock_timestamp()` of
# its own. A caller's fixed `now` (tests) wins over the clock. The expiry check, the time
# on the item and the rows' created_at all use the returned time; a rejection after this
# (expired lease, invalid ranking) rolls the UPDATE back, so nothing stays written.
_CLOSE_ASSIGNMENT = (
    update(cast(Table, Assignment.__table__))
    .where(Assignment.id == _ASSIGNMENT)
    .values(
        status="submitted",
        finished_at=func.coalesce(bindparam("now", type_=UTCDateTime()), DatabaseClock()),
    )
    .returning(Assignment.finished_at)
)


def _expire_held(session: Session, assignment_id: int) -> None:
    """The Core UPDATE bypasses the ORM: a copy of the row this session already holds
    reloads on its next use instead of still saying "leased"."""
    held = session.identity_map.get(session.identity_key(Assignment, assignment_id))
    if held is not None:
        session.expire(held)


def _lock_prompt(
    session: Session, assignment_id: int, annotator: User
) -> tuple[Row, list[int], int]:
    """Lock the assignment's prompt. Returns its set's rules (require_ratings,
    require_rationale, the escalation settings) with its prompt_id, is_gold and
    extra_seats, its candidate ids, and the characters the item shows."""
    rows = session.connection().execute(_LOCK_PROMPT, {"assignment": assignment_id}).all()
    first = own_assignment(rows[0] if rows else None, assignment_id, annotator)
    chars = (first.prompt_chars or 0) + sum(row.candidate_chars or 0 for row in rows)
    return first, [row.candidate_id for row in rows if row.candidate_id is not None], chars


def _lock_for_submit(session: Session, assignment_id: int, annotator: User, key: str) -> Row:
    """The assignment row, locked: id, prompt_id, status, lease times, key_used."""
    params = {"assignment": assignment_id, "who": annotator.id, "key": key}
    return session.connection().execute(_LOCK_ASSIGNMENT, params).one()


def _check_open(assignment: Any, now: dt.datetime) -> None:
    _check_not_finished(assignment)
    _check_unexpired(assignment, now)


def _check_not_finished(assignment: Any) -> None:
    if assignment.status == "submitted":
        raise AssignmentClosed(f"Assignment {assignment.id} was already submitted.")
    if assignment.status == "skipped":
        raise AssignmentClosed(f"Assignment {assignment.id} was skipped; it cannot be submitted.")


def _check_unexpired(assignment: Any, now: dt.datetime) -> None:
    if assignment.status != "leased" or assignment.lease_expires_at <= now:
        raise LeaseExpired(
            f"The lease on assignment {assignment.id} expired at "
            f"{assignment.lease_expires_at:%Y-%m-%d %H:%M:%S} UTC; the item went back to the "
            "pool. Ask for the next item."
        )


def seconds_on_item(lease: Any, now: dt.datetime) -> float:
    """Time on the item as the server measured it (issue 20): from the hand-out of the
    lease being submitted to `now`, within 0 and that lease's length. A reload of a live
    lease shows it again without touching `leased_at`, so the time counts from its first
    showing; a lapsed row that the annotator leases again is a new hand-out (its old
    lease ended and held no seat), so the time counts from the new one. The client's own
    figure is stored beside it (`client_seconds_spent`) and decides nothing."""
    length = max(0.0, (lease.lease_expires_at - lease.leased_at).total_seconds())
    return min(max(0.0, (now - lease.leased_at).total_seconds()), length)


def _float_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


def _replay(
    session: Session, annotator: User, key: str, assignment_id: int
) -> SubmissionResult | None:
    existing = session.scalars(
        select(Annotation).where(
            Annotation.annotator_id == annotator.id, Annotation.idempotency_key == key
        )
    ).first()
    if existing is None:
        return None
    if existing.assignment_id != assignment_id:
        raise IdempotencyKeyReused(
            f"Idempotency key {key!r} was already used for assignment {existing.assignment_id}."
        )
    n = session.scalar(
        select(func.count()).select_from(Comparison).where(Comparison.annotation_id == existing.id)
    )
    return SubmissionResult(existing.id, existing.assignment_id, existing.prompt_id, n or 0, False)


Problems = list[dict[str, Any]]


def _problem(errors: Problems, field_name: str, message: str) -> None:
    errors.append({"field": field_name, "message": message})


def _check_flags(raw: dict[str, Any], labels: dict[str, str], errors: Problems) -> dict:
    flags: dict[str, list[str]] = {}
    kinds_text = ", ".join(FLAG_KINDS)
    for key, kinds in (raw or {}).items():
        key = str(key)
        where = f"flags.{key}"
        if key not in labels:
            _problem(errors, where, f"candidate {key} is not a response to this prompt")
        elif not isinstance(kinds, list):
            _problem(errors, where, f"flags of {labels[key]} must be a list of kinds")
        elif bad := [k for k in kinds if k not in FLAG_KINDS]:
            _problem(errors, where, f"unknown flag {bad[0]!r} on {labels[key]}; use {kinds_text}")
        elif kinds:
            flags[key] = sorted(set(kinds))
    return flags


def _check_ratings(
    raw: dict[str, Any], labels: dict[str, str], required: bool, errors: Problems
) -> dict:
    ratings: dict[str, int] = {}
    span = f"{RATING_MIN} to {RATING_MAX}"
    for key, value in (raw or {}).items():
        key = str(key)
        where = f"ratings.{key}"
        if key not in labels:
            _problem(errors, where, f"candidate {key} is not a response to this prompt")
        elif not isinstance(value, int) or isinstance(value, bool):
            _problem(errors, where, f"rating {value!r} for {labels[key]} is not a whole number")
        elif not RATING_MIN <= value <= RATING_MAX:
            _problem(errors, where, f"rating {value} for {labels[key]} is outside {span}")
        else:
            ratings[key] = value
    if required:
        for key in sorted(set(labels) - {str(k) for k in raw or {}}, key=lambda k: labels[k]):
            _problem(errors, f"ratings.{key}", f"{labels[key]} needs a rating from {span}")
    return ratings


def _check_text(data: SubmissionInput, prompt_set: SetLike, errors: Problems) -> str | None:
    rationale = (data.rationale or "").strip() or None
    if rationale is not None and len(rationale) > MAX_RATIONALE_CHARS:
        _problem(
            errors,
            "rationale",
            f"the rationale has {len(rationale)} characters; the limit is {MAX_RATIONALE_CHARS}",
        )
    if prompt_set.require_rationale and rationale is None:
        _problem(errors, "rationale", "this prompt set asks for a rationale")
    seconds = data.seconds_spent
    if seconds is not None and not (math.isfinite(seconds) and 0 <= seconds <= MAX_SECONDS):
        _problem(
            errors,
            "seconds_spent",
            f"seconds_spent {seconds!r} must be between 0 and {MAX_SECONDS}",
        )
    return rationale


def _check_details(
    data: SubmissionInput, prompt_set: SetLike, labels: dict[int, str]
) -> tuple[dict[str, list[str]], dict[str, int], str | None, Problems]:
    """Flags, ratings, rationale and time: normalised values plus every problem found."""
    errors: Problems = []
    names = {str(cid): f"response {label}" for cid, label in labels.items()}
    flags = _check_flags(data.flags, names, errors)
    ratings = _check_ratings(data.ratings, names, prompt_set.require_ratings, errors)
    rationale = _check_text(data, prompt_set, errors)
    return flags, ratings, rationale, errors


def submit_annotation(
    session: Session, *, annotator: User, data: SubmissionInput, now: dt.datetime | None = None
) -> SubmissionResult:
    """Store the ranking and its comparisons and close the lease, all in one commit.

    The same idempotency key sent again returns the first result and stores nothing.
    A transaction PostgreSQL aborted as a deadlock victim is run once more (it wrote
    nothing that stayed, and a replay of a stored key stores nothing).
    """

    def submit() -> SubmissionResult:
        result = store_annotation(session, annotator=annotator, data=data, now=now)
        if result.created:
            session.commit()
        return result

    result = retry_once_on_conflict(session, submit)
    if result.created:
        metrics.ANNOTATIONS.inc()  # after the commit: a rolled-back ranking is not counted
    return result


def submit_and_next(
    session: Session,
    *,
    annotator: User,
    data: SubmissionInput,
    now: dt.datetime | None = None,
    suggest: SuggestOrder | None = None,
) -> tuple[SubmissionResult, TaskView | None]:
    """Submit, then lease the annotator's next item of the same set, in one request
    (issue 11): the submit commits, then the claim runs in a transaction of its own.

    Every lease rule is the claim's own (`assignment.claim_next_task`). A retried submit
    stores nothing and the claim hands back the live lease the first attempt took, so a
    retry gets the same next item, never a second one. None: nothing is left for them,
    or they may not have items (this gold answer failed or paused them, say): the ranking
    is saved either way, and `standing.hold_message` says why.
    Two transactions, not one (issue 20, item 5): the claim may wait for a prompt row
    another annotator's submit holds, and if ours still held its own prompt's lock, two
    such submits near the end of a set would each wait for the other's prompt.
    """
    result = submit_annotation(session, annotator=annotator, data=data, now=now)
    set_id = result.prompt_set_id
    assert set_id is not None

    try:
        task = lease_next_task(session, prompt_set_id=set_id, annotator=annotator, suggest=suggest)
    except (PromptSetNotOpen, standing.AnnotatorHeld):
        session.rollback()  # the claim wrote nothing; the ranking is already saved
        task = None  # the set was paused meanwhile, or they were
    return result, task


def store_annotation(
    session: Session, *, annotator: User, data: SubmissionInput, now: dt.datetime | None = None
) -> SubmissionResult:
    """The writes of `submit_annotation`, left uncommitted for the caller (a replay has
    nothing to write and ends its read-only transaction)."""
    key = (data.idempotency_key or "").strip() or f"assignment-{data.assignment_id}"
    if len(key) > 100:
        raise AnnotationInvalid(
            "idempotency_key is longer than 100 characters.",
            errors=[{"field": "idempotency_key", "message": "at most 100 characters"}],
        )
    session.connection().execute(_LOCK_ANNOTATOR, {"who": annotator.id})
    rules, candidate_ids, chars = _lock_prompt(session, data.assignment_id, annotator)
    prompt_id = rules.prompt_id
    assignment = _lock_for_submit(session, data.assignment_id, annotator, key)
    if assignment.key_used or assignment.status in FINISHED:
        replay = _replay(session, annotator, key, assignment.id)
        if replay is not None:
            session.rollback()
            replay.prompt_set_id = rules.prompt_set_id
            return replay
    _check_not_finished(assignment)
    conn = session.connection()
    # The database's clock, read by the close of the lease after the locks: the expiry
    # check must be neither stale nor this process's own idea of the time (issue 20,
    # item 6), and it costs no round trip of its own (see _CLOSE_ASSIGNMENT).
    closed = conn.execute(_CLOSE_ASSIGNMENT, {"assignment": assignment.id, "now": now})
    at = closed.scalar_one()
    assert at is not None  # coalesce(now, the clock) is never NULL
    try:
        _check_unexpired(assignment, at)
    except LeaseExpired:
        session.rollback()  # undo the close: an expired lease stays as it was
        raise
    labels = candidate_labels(annotator.id, prompt_id, candidate_ids)
    errors: list[dict[str, Any]] = []
    ranking = None
    try:
        ranking = validate_ranking(data.ranking, candidate_ids, labels)
        # Order inside a tie group carries no meaning: store it canonically, so the form,
        # the buttons, the keyboard and drag and drop give identical rows.
        ranking = [sorted(group) for group in ranking]
    except InvalidInput as exc:
        errors.extend(exc.errors)
    flags, ratings, rationale, detail_errors = _check_details(data, rules, labels)
    errors.extend(detail_errors)
    if errors or ranking is None:
        session.rollback()
        summary = "; ".join(e["message"] for e in errors)
        raise AnnotationInvalid(f"The annotation was not saved: {summary}.", errors=errors)
    pairs = derive_comparisons(ranking)
    seconds = seconds_on_item(assignment, at)
    try:
        annotation_id = conn.execute(
            _INSERT_ANNOTATION,
            {
                "assignment_id": assignment.id,
                "prompt_id": prompt_id,
                "annotator_id": annotator.id,
                "ranking": ranking,
                "all_bad": bool(data.all_bad),
                "flags": flags,
                "ratings": ratings,
                "rationale": rationale,
                "seconds_spent": seconds,
                "client_seconds_spent": _float_or_none(data.seconds_spent),
                "order_changed": data.order_changed,
                # From what the lease path served (assignment.suggested_order), not the client.
                "suggestion_shown": bool(assignment.suggestion_shown),
                "idempotency_key": key,
                "created_at": at,
            },
        ).scalar_one()
        if pairs:
            conn.execute(
                _INSERT_COMPARISON,
                [
                    {
                        "annotation_id": annotation_id,
                        "prompt_id": prompt_id,
                        "chosen_candidate_id": pair.chosen_id,
                        "rejected_candidate_id": pair.rejected_id,
                        "margin": pair.margin,
                        "created_at": at,
                    }
                    for pair in pairs
                ],
            )
        answers = tallies.record_change(session, prompt_id, new_annotator_id=annotator.id)
        # The annotator's own signal counts; their user row is locked (the first lock).
        signal_tallies.record_annotation(
            conn,
            SignalRow(
                annotator.id,
                rules.prompt_set_id,
                prompt_id,
                ranking,
                seconds,
                chars,
                data.order_changed,
                bool(assignment.suggestion_shown),
            ),
        )
        seats = escalate_if_contested(conn, rules, answers)
        rankings = sum(a.ranking is not None for a in answers)
        webhook_events.seats_decided(session, rules, seats, rankings)
        _expire_held(session, assignment.id)
    except IntegrityError as exc:
        # A concurrent retry with the same key won the race (our row lock makes this
        # rare on PostgreSQL); answer with what it stored.
        session.rollback()
        replay = _replay(session, annotator, key, data.assignment_id)
        if replay is not None:
            replay.prompt_set_id = rules.prompt_set_id
            return replay
        raise AssignmentClosed(f"Assignment {data.assignment_id} was already submitted.") from exc
    if rules.is_gold:  # qualification and calibration are decided in this transaction
        standing.record_gold_answer(
            session, prompt_set_id=rules.prompt_set_id, annotator_id=annotator.id, now=at
        )
    return SubmissionResult(
        annotation_id, assignment.id, prompt_id, len(pairs), True, rules.prompt_set_id
    )


def skip_assignment(
    session: Session,
    *,
    annotator: User,
    assignment_id: int,
    reason: str,
    now: dt.datetime | None = None,
) -> Assignment:
    """Give an item back with a reason. Others may take it; this annotator never gets it again."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_SKIP_REASON_CHARS:
        raise AnnotationInvalid(
            f"Say why you skip this item (1 to {MAX_SKIP_REASON_CHARS} characters).",
            errors=[{"field": "reason", "message": f"1 to {MAX_SKIP_REASON_CHARS} characters"}],
        )
    own = load_own_assignment(session, assignment_id, annotator)
    # The lock order of app.annotation.assignment: user, prompt, then the assignment.
    session.connection().execute(_LOCK_ANNOTATOR, {"who": annotator.id})
    tallies.lock_prompt(session, own.prompt_id)
    assignment = _lock_assignment(session, own)
    if assignment.status == "skipped":
        session.rollback()
        return assignment
    if assignment.status == "submitted":
        raise AssignmentClosed(f"Assignment {assignment.id} was already submitted.")
    assignment.status, assignment.finished_at, assignment.skip_reason = "skipped", now, reason
    session.flush()
    tallies.record_change(session, assignment.prompt_id)
    session.commit()
    metrics.SKIPS.inc()
    return assignment
