"""Handing out prompts: lease the next prompt of a set to an annotator.

Lease state is plain data in `assignment` rows (status + lease_expires_at), never a
counter someone must keep in step. A prompt's seats are taken by its submitted
assignments plus its *live* leases (status "leased", not yet expired); an expired lease
simply stops counting, so an abandoned prompt returns to the pool without a sweeper.
`app.annotation.leases.release_leases()` stays correct for the same reason.

Lease times come from the database's clock (app.core.db.DatabaseClock, issue 20 item 6):
leased_at, lease_expires_at and every "is this lease still live" check, in the claim and
in the submit. App processes sharing one database may have skewed clocks; the database
has one.

Lock order (issue 20, item 3). Every path takes its row locks in this one order, and
never waits for an earlier kind while holding a later one:

    1. the annotator's user row          (claim, submit, skip, deactivating them)
    2. prompt rows, in id order          (claim, submit, skip, deleting or regenerating)
    3. assignment rows                   (the lease being written, submitted or released)
    4. rows written under those locks    (annotations, tallies, standings, escalation)

So: the claim locks the user row, then a prompt (SKIP LOCKED, then waiting, below), then
writes the lease. The submit locks the user row, the prompt, then the assignment
(app.annotation.submission), and decides the gold standing under the user lock it already
holds. Deactivating someone locks their user row before releasing their leases
(app.admin.people). Deleting a prompt or regenerating candidates locks the prompt rows
before counting their annotations (app.annotation.prompt_removal). A transaction that
PostgreSQL aborts as a deadlock victim anyway (a cycle nobody foresaw) is retried once by
the submit and the admin action (app.core.db.retry_once_on_conflict).

Concurrency (issue 4):
- PostgreSQL: the candidate prompt row is claimed with `FOR UPDATE SKIP LOCKED`, so
  concurrent annotators take different prompts instead of queueing. If that pass finds
  nothing, a second pass without SKIP LOCKED waits for the rows others hold (a submit, a
  claim, a priority refresh), so "nothing left" means nothing is left (issue 20, item 5).
  Every lease of a
  prompt is written while holding that row lock, by a statement that counts the seats
  again and writes only if one is free (a fresh statement under READ COMMITTED sees every
  committed lease), so submitted + live leases never exceed the prompt's seat target. The
  target is the set's k plus the prompt's `extra_seats` (escalation, issue 13: raised only
  by a submit holding the same row lock, so the value read under the lock is current, and
  never above the set's annotators_max). The annotator's own user
  row is locked first, so two tabs of one person cannot each lease a different prompt at
  the same moment.
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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BindParameter,
    Integer,
    Row,
    String,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotation import gold_pacing, standing
from app.annotation.models import AnnotatorStanding, Assignment
from app.annotation.suggestions import SuggestOrder, starting_order
from app.core.db import DatabaseClock, UTCDateTime, retry_once_on_conflict, utcnow
from app.core.errors import Conflict
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Candidate, Prompt, PromptSet

# Prompts claimed under a lock whose seats filled meanwhile are skipped; bounded retries.
_MAX_CLAIM_ATTEMPTS = 8
# Gold prompts have no cap of k: a seat limit no count can reach.
_NO_CAP = 2**31 - 1
FINISHED = ("submitted", "skipped")
# A PromptSet, or a row of its columns read without the ORM (the hot lease path).
SetLike = PromptSet | Row


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
    # A judge's suggested order the annotator starts from (issue 13); None: label order.
    suggested_order: list[int] | None = None
    idempotency_key: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def start_order(self) -> list[CandidateView]:
        """The candidates in the order the ranking starts from (labels unchanged)."""
        if self.suggested_order is None:
            return self.candidates
        by_id = {c.id: c for c in self.candidates}
        return [by_id[cid] for cid in self.suggested_order]

    def as_json(self) -> dict[str, Any]:
        return {
            "assignment_id": self.assignment_id,
            "prompt_set_id": self.prompt_set_id,
            "prompt": {"text": self.prompt_text, "messages": self.prompt_messages},
            "candidates": [{"id": c.id, "label": c.label, "text": c.text} for c in self.candidates],
            "lease_expires_at": self.lease_expires_at.isoformat(),
            "require_ratings": self.require_ratings,
            "require_rationale": self.require_rationale,
            "suggested_order": self.suggested_order,
            "idempotency_key": self.idempotency_key,
        }


def _seats_taken(prompt_id: Any, now: Any) -> Any:
    """Submitted assignments plus live leases of a prompt (a scalar subquery or value).

    Written as `status IN (submitted, leased) AND (submitted OR not yet expired)`, which
    PostgreSQL answers with one scan of (prompt_id, status) per prompt instead of two
    bitmap scans: the claim runs this for every full prompt it walks past.
    """
    return (
        select(func.count())
        .select_from(Assignment)
        .where(
            Assignment.prompt_id == prompt_id,
            Assignment.status.in_(("submitted", "leased")),
            or_(Assignment.status == "submitted", Assignment.lease_expires_at > now),
        )
        .scalar_subquery()
    )


def _open_prompts(prompt_set_id: Any, annotator_id: Any, *, gold: bool) -> Any:
    """Ready, active prompts of the set this annotator has not finished (submitted/skipped)."""
    mine_finished = exists().where(
        Assignment.prompt_id == Prompt.id,
        Assignment.annotator_id == annotator_id,
        Assignment.status.in_(FINISHED),
    )
    return select(Prompt.id).where(
        Prompt.prompt_set_id == prompt_set_id,
        Prompt.status == "active",
        Prompt.candidates_ready.is_(True),
        Prompt.is_gold.is_(gold),
        ~mine_finished,
    )


# The statements of one lease, built once with bound parameters: a request then pays
# neither for building them nor for their cache keys, only for binding the values.
_SET: BindParameter[int] = bindparam("set_id")
_WHO: BindParameter[int] = bindparam("who")
_NOW = bindparam("now", type_=UTCDateTime())
_EXPIRES = bindparam("expires", type_=UTCDateTime())
_PROMPT: BindParameter[int] = bindparam("prompt")
_K: BindParameter[int] = bindparam("k")

# The set, the annotator's row lock (serialises one person's tabs on PostgreSQL) and how
# many items they finished in the set (for the gold turn), in one round trip. The count
# may miss a submit that commits while this waits for the lock; it only paces gold items.
# The set is read as plain columns (what a lease needs), not as an ORM object.
_SET_AND_ANNOTATOR = (
    select(
        PromptSet.id,
        PromptSet.name,
        PromptSet.status,
        PromptSet.lease_seconds,
        PromptSet.annotators_per_prompt,
        PromptSet.require_ratings,
        PromptSet.require_rationale,
        select(func.count())
        .select_from(Assignment)
        .join(Prompt, Prompt.id == Assignment.prompt_id)
        .where(
            Prompt.prompt_set_id == _SET,
            Assignment.annotator_id == _WHO,
            Assignment.status.in_(FINISHED),
        )
        .scalar_subquery()
        .label("finished"),
        PromptSet.qualification_items,
        PromptSet.gold_seed,
        # A column of the locked row: PostgreSQL returns its version current at the lock.
        User.is_active.label("annotator_active"),
    )
    .join(User, User.id == _WHO)
    .where(PromptSet.id == _SET)
    .with_for_update(of=User)
)
# The annotator's standing in the set (qualification, pause), read in its own statement
# once the annotator's row lock is held. Not a join in the locking statement: on
# PostgreSQL that statement's snapshot predates the wait for the lock, so it would miss
# a pause or failure that a gold submit holding the lock committed meanwhile.
# With it, the database's clock: the claim's "now", read after the lock wait (the lease
# times and the expiry checks of the claim use it, not this process's clock).
_OF_STANDING = (AnnotatorStanding.prompt_set_id == _SET, AnnotatorStanding.annotator_id == _WHO)
_STANDING = select(
    DatabaseClock().label("now"),
    select(AnnotatorStanding.state).where(*_OF_STANDING).scalar_subquery().label("state"),
    select(AnnotatorStanding.reason).where(*_OF_STANDING).scalar_subquery().label("reason"),
).subquery("held")

# This annotator's rows in the set that are neither submitted nor skipped: a live lease,
# or lapsed/released ones that may be reused for the same prompt.
_UNFINISHED = (
    select(
        Assignment.id,
        Assignment.prompt_id,
        Assignment.status,
        Assignment.leased_at,
        Assignment.lease_expires_at,
    )
    .join(Prompt, Prompt.id == Assignment.prompt_id)
    .where(
        Prompt.prompt_set_id == _SET,
        Assignment.annotator_id == _WHO,
        Assignment.status.not_in(FINISHED),
    )
    .subquery("unfinished")
)
# Both in one round trip (issue 22): the standing's one row, joined to every unfinished
# row (or to none: then one row with the standing and NULL assignment columns). Neither
# takes a lock, and both are read by a statement that starts after the user lock is held.
_STANDING_AND_UNFINISHED = (
    select(_STANDING, _UNFINISHED)
    .select_from(_STANDING.outerjoin(_UNFINISHED, true()))
    .order_by(_UNFINISHED.c.id)
)

# The first regular prompt in hand-out order with a free seat, locked; prompts whose
# seats filled while we claimed them are passed over. The order is (priority, id), one
# scan of ix_prompt_claim_order for every routing: `in_order` leaves every priority at 0
# (id order), `random` and `uncertain_first` have app.reward.routing write priorities
# (lowest first) whenever scores change, so routing never changes this statement.
# Seat targets: a prompt's target is the set's k (`_K`) plus its `extra_seats` (more
# annotators where they disagree, app.annotation.escalation), a column of the row the scan
# reads anyway. The claim returns the prompt's extra seats, read under its row lock, and
# `_INSERT_LEASE` / `_REUSE_LEASE` get that target as their `_K`.
_CLAIM_REGULAR = (
    _open_prompts(_SET, _WHO, gold=False)
    .add_columns(Prompt.extra_seats)
    .where(
        _seats_taken(Prompt.id, _NOW) < _K + Prompt.extra_seats,
        Prompt.id.not_in(bindparam("passed", expanding=True)),
    )
    .order_by(Prompt.priority, Prompt.id)
    .limit(1)
    .with_for_update(of=Prompt, skip_locked=True)
)
# The same claim waiting for prompt rows others hold: the second pass, when the first
# passed over every free seat because its row was locked (issue 20, item 5).
_CLAIM_REGULAR_WAITING = _CLAIM_REGULAR.with_for_update(of=Prompt)
# Gold prompts go to every annotator (no cap of k), so no row lock is needed. All of the
# annotator's open ones are read (a set has few): app.annotation.gold_pacing picks the
# first in that annotator's own order, never in id order.
_OPEN_GOLD = _open_prompts(_SET, _WHO, gold=True)

_LEASE_COLUMNS = ("id", "prompt_id", "leased_at", "lease_expires_at")
_RETURNING = [getattr(Assignment, c) for c in _LEASE_COLUMNS]

# A new lease, written only while the prompt still has a free seat. This is a new
# statement after the row lock is held, so under READ COMMITTED its count sees every
# lease committed before the lock was granted: submitted + live leases never exceed the
# prompt's seat target (bound as `k`).
_INSERT_LEASE = (
    insert(Assignment)
    .from_select(
        ["prompt_id", "annotator_id", "status", "leased_at", "lease_expires_at"],
        select(
            bindparam("prompt", type_=Integer()),
            bindparam("who", type_=Integer()),
            literal("leased", String()),
            _NOW,
            _EXPIRES,
        ).where(_seats_taken(_PROMPT, _NOW) < _K),
    )
    .returning(*_RETURNING)
)
_INSERT_GOLD_LEASE = (
    insert(Assignment)
    .values(
        prompt_id=_PROMPT,
        annotator_id=_WHO,
        status="leased",
        leased_at=_NOW,
        lease_expires_at=_EXPIRES,
    )
    .returning(*_RETURNING)
)
# Reusing this annotator's own lapsed/released row for the prompt. A guarded UPDATE, not
# an attribute write: if a late submit of the lapsed lease committed while we waited for
# its row lock, PostgreSQL re-checks the WHERE on the new row version and we must not
# turn that "submitted" back into a lease.
_REUSE_LEASE = (
    update(Assignment)
    .where(
        Assignment.id == bindparam("row"),
        Assignment.status.not_in(FINISHED),
        _seats_taken(_PROMPT, _NOW) < _K,
    )
    .values(status="leased", leased_at=_NOW, lease_expires_at=_EXPIRES, finished_at=None)
    .returning(*_RETURNING)
)
_ROW_STATUS = select(Assignment.status).where(Assignment.id == bindparam("row"))
# What the annotator sees: the prompt, its candidates and the order already suggested for
# the assignment (if any), in one round trip.
_PROMPT_AND_CANDIDATES = (
    select(
        Prompt.text,
        Prompt.messages,
        Candidate.id,
        Candidate.text.label("candidate_text"),
        select(Assignment.suggested_order)
        .where(Assignment.id == bindparam("assignment"))
        .scalar_subquery()
        .label("suggested_order"),
    )
    .outerjoin(Candidate, Candidate.prompt_id == Prompt.id)
    .where(Prompt.id == _PROMPT)
)


class _SeatsFull(Exception):
    """The claimed prompt's seats filled before our lease was written: pass it over."""


def _lease(
    session: Session,
    prompt_id: int,
    annotator_id: int,
    prompt_set: SetLike,
    now: dt.datetime,
    reusable: Row | None,
    *,
    target: int | None,
) -> Row:
    """Write the lease (a new row, or this annotator's lapsed/released row for the prompt)
    if a seat is still free under the prompt's seat `target` (None: a gold prompt, no
    cap); returns (id, prompt_id, leased_at, lease_expires_at)."""
    expires = now + dt.timedelta(seconds=prompt_set.lease_seconds)
    k = _NO_CAP if target is None else target
    params = {"prompt": prompt_id, "who": annotator_id, "now": now, "expires": expires, "k": k}
    conn = session.connection()
    if reusable is None:
        stmt = _INSERT_GOLD_LEASE if target is None else _INSERT_LEASE
        row = conn.execute(stmt, params).first()
        if row is None:
            raise _SeatsFull
        return row
    row = conn.execute(_REUSE_LEASE, {**params, "row": reusable.id}).first()
    if row is not None:
        return row
    if conn.execute(_ROW_STATUS, {"row": reusable.id}).scalar() in FINISHED:
        raise Conflict("Your earlier answer for this item was just saved; ask for the next item.")
    raise _SeatsFull


def lease_next_task(
    session: Session,
    *,
    prompt_set_id: int,
    annotator: User,
    now: dt.datetime | None = None,
    suggest: SuggestOrder | None = None,
) -> TaskView | None:
    """Lease the next prompt of the set to `annotator`; None when nothing is left for them.

    Asking again while holding a live lease returns that same item. Commits once.
    `suggest`: where a judge's suggested starting order comes from (app.annotation.suggestions).
    A claim PostgreSQL aborted as a deadlock victim runs once more (it wrote nothing).
    """

    def claim() -> TaskView | None:
        view = claim_next_task(
            session, prompt_set_id=prompt_set_id, annotator=annotator, now=now, suggest=suggest
        )
        session.commit()
        return view

    return retry_once_on_conflict(session, claim)


def claim_next_task(
    session: Session,
    *,
    prompt_set_id: int,
    annotator: User,
    now: dt.datetime | None = None,
    suggest: SuggestOrder | None = None,
) -> TaskView | None:
    """`lease_next_task` inside the caller's transaction (the caller commits).

    Raises standing.AnnotatorHeld (403, with the reason) for an annotator who failed the
    set's qualification round or is paused in it, before anything is written.
    The claim may wait for prompt rows that other transactions hold (see `_pick`), so the
    caller must hold no prompt or assignment lock of its own: see the lock order above.
    `now`: a fixed time for tests; by default the database's clock, read after the lock.
    """
    params = {"set_id": prompt_set_id, "who": annotator.id}
    prompt_set = session.connection().execute(_SET_AND_ANNOTATOR, params).first()
    if prompt_set is None:
        prompt_set_service.load_prompt_set(session, prompt_set_id)  # raises NotFound
        raise AssertionError("unreachable")  # pragma: no cover - the user row exists
    if prompt_set.status != "active":
        raise PromptSetNotOpen(
            f"Prompt set {prompt_set.name!r} is {prompt_set.status}; it hands out no items."
        )
    if not prompt_set.annotator_active:
        # Deactivated while this request waited for their row lock (the admin action
        # released their leases under it): no new lease after that.
        raise standing.AnnotatorHeld("Your account was deactivated; ask an admin.")
    found = session.connection().execute(_STANDING_AND_UNFINISHED, params).all()
    held = found[0]
    now = now or held.now
    gold_only = standing.qualifying(
        set_name=prompt_set.name,
        state=held.state,
        reason=held.reason,
        qualification_items=prompt_set.qualification_items,
    )
    rows = [row for row in found if row.id is not None]
    live = [r for r in rows if r.status == "leased" and r.lease_expires_at > now]
    if live:
        return _view(session, live[0], annotator.id, prompt_set, suggest)
    _mark_lapsed(session, rows, now)
    try:
        lease = _pick(
            session, prompt_set, annotator.id, now, prompt_set.finished or 0, rows, gold_only
        )
    except IntegrityError as exc:  # pragma: no cover - guarded by the locks above
        session.rollback()
        raise Conflict("Someone else took this item at the same moment; ask again.") from exc
    return None if lease is None else _view(session, lease, annotator.id, prompt_set, suggest)


def _mark_lapsed(session: Session, rows: Sequence[Row[*tuple[Any, ...]]], now: dt.datetime) -> None:
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
    session: Session,
    prompt_set: SetLike,
    annotator_id: int,
    now: dt.datetime,
    finished: int,
    rows: Sequence[Row[*tuple[Any, ...]]],
    gold_only: bool = False,
) -> Row | None:
    """Claim a prompt and write the lease. On the annotator's gold turns (on average one
    item in GOLD_EVERY, at places of their own: app.annotation.gold_pacing) it is gold;
    only gold during a qualification round (`gold_only`), and AnnotatorHeld when none is
    left.

    Regular prompts go in hand-out order, (priority, id), which is how "finish items
    before starting new ones" is kept cheaply: everyone takes the first open prompt, so
    prompts are started in that order and the started ones always come first while they
    still have a seat (a skipped or expired seat is refilled before a new prompt is
    opened). The scan stops at the first open prompt instead of counting seats for every
    prompt of the set. A priority refresh (new scores) may reorder prompts mid-way; a
    started prompt then waits its new turn, which is the point of routing by uncertainty.

    Two passes (issue 20, item 5): the first skips prompt rows others hold locked (SKIP
    LOCKED: concurrent annotators take different prompts without queueing); if it finds
    nothing, the second waits for those rows and re-checks them, so a seat that a
    concurrent submit, claim or priority refresh only held for a moment is not reported
    as "nothing left". The second pass costs one statement that finds nothing when the
    set really is done for this annotator.
    """
    reusable = {r.prompt_id: r for r in rows}
    params = {"set_id": prompt_set.id, "who": annotator_id}
    conn = session.connection()

    def gold() -> Row | None:
        open_gold = conn.execute(_OPEN_GOLD, params).scalars().all()
        if not open_gold:
            return None
        prompt_id = gold_pacing.gold_order(prompt_set.gold_seed, annotator_id, open_gold)[0]
        return _lease(
            session, prompt_id, annotator_id, prompt_set, now, reusable.get(prompt_id), target=None
        )

    if gold_only:
        if (lease := gold()) is None:
            raise standing.no_gold_left(session, prompt_set.id, prompt_set.name)
        return lease
    gold_turn = gold_pacing.is_gold_turn(prompt_set.gold_seed, annotator_id, finished)
    if gold_turn and (lease := gold()) is not None:
        return lease
    claim: dict[str, Any] = {
        **params,
        "now": now,
        "k": prompt_set.annotators_per_prompt,
        "passed": [],
    }
    for statement in (_CLAIM_REGULAR, _CLAIM_REGULAR_WAITING):
        for _ in range(_MAX_CLAIM_ATTEMPTS):
            claimed = conn.execute(statement, claim).first()
            if claimed is None:
                break
            prompt_id, extra_seats = claimed
            try:
                return _lease(
                    session,
                    prompt_id,
                    annotator_id,
                    prompt_set,
                    now,
                    reusable.get(prompt_id),
                    target=prompt_set.annotators_per_prompt + extra_seats,
                )
            except _SeatsFull:
                claim["passed"] = [*claim["passed"], prompt_id]
    return gold()


def candidate_order(annotator_id: int, prompt_id: int, candidate_ids: list[int]) -> list[int]:
    """A stable per-annotator shuffle: the same person sees the same order on reload."""
    digest = hashlib.sha256(f"{annotator_id}:{prompt_id}".encode()).hexdigest()
    ordered = sorted(candidate_ids)
    random.Random(digest).shuffle(ordered)
    return ordered


def candidate_labels(annotator_id: int, prompt_id: int, candidate_ids: list[int]) -> dict[int, str]:
    order = candidate_order(annotator_id, prompt_id, candidate_ids)
    return {cid: string.ascii_uppercase[i] for i, cid in enumerate(order)}


def task_view(session: Session, assignment: Assignment, prompt_set: SetLike) -> TaskView:
    return _view(session, assignment, assignment.annotator_id, prompt_set)


def _view(
    session: Session,
    lease: Any,
    annotator_id: int,
    prompt_set: SetLike,
    suggest: SuggestOrder | None = None,
) -> TaskView:
    """The item as the annotator sees it; `lease` has id, prompt_id, leased_at and
    lease_expires_at (an Assignment or a row)."""
    params = {"prompt": lease.prompt_id, "assignment": lease.id}
    rows = session.connection().execute(_PROMPT_AND_CANDIDATES, params).all()
    assert rows, f"prompt {lease.prompt_id} of assignment {lease.id} is gone"
    texts = {row.id: row.candidate_text for row in rows if row.id is not None}
    labels = candidate_labels(annotator_id, lease.prompt_id, list(texts))
    ordered = sorted(texts, key=lambda cid: labels[cid])
    start = starting_order(
        session,
        assignment_id=lease.id,
        stored=rows[0].suggested_order,
        prompt_set_id=prompt_set.id,
        prompt_id=lease.prompt_id,
        labels=labels,
        suggest=suggest,
    )
    return TaskView(
        assignment_id=lease.id,
        prompt_set_id=prompt_set.id,
        prompt_id=lease.prompt_id,
        prompt_text=rows[0].text,
        prompt_messages=rows[0].messages,
        candidates=[CandidateView(cid, labels[cid], texts[cid]) for cid in ordered],
        leased_at=lease.leased_at,
        lease_expires_at=lease.lease_expires_at,
        require_ratings=prompt_set.require_ratings,
        require_rationale=prompt_set.require_rationale,
        suggested_order=start,
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
    target = prompt_set.annotators_per_prompt + Prompt.extra_seats
    regular = _open_prompts(prompt_set.id, annotator_id, gold=False).where(submitted < target)
    gold = _open_prompts(prompt_set.id, annotator_id, gold=True)
    remaining = sum(
        session.scalar(select(func.count()).select_from(q.subquery())) or 0 for q in (regular, gold)
    )
    return Progress(done_today=done_today, done_total=done_total, remaining=remaining)
