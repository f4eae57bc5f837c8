"""Qualification and calibration: where an annotator stands in a prompt set.

A set with `qualification_items` N > 0 runs a qualification round: a new annotator's
first N items are gold. The submit of the Nth gold answer decides it (in the submit's
transaction): "qualified" with at least `qualification_min_agreement` of the N agreed,
"failed" otherwise. After that, hidden gold items keep coming at the claim's usual pace;
when `gold_pause_below` is set and the share agreed among the last `gold_window` gold
answers falls below it, the annotator is "paused" in that set. "failed" and "paused" get
no items, and the claim says why (AnnotatorHeld). An admin can lift either (a failed
person retries the round); nothing the annotator stored is ever deleted.

One gold item "agrees" by app.prompt_sets.ranking.gold_agrees, the definition the
annotator statistics use. Shares are fractions 0..1 everywhere (the form says so).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, Row, bindparam, func, select, update
from sqlalchemy.orm import Session, aliased

from app.accounts.models import User
from app.annotation import webhook_events
from app.annotation.models import Annotation, AnnotatorStanding
from app.core.db import utcnow
from app.core.errors import Conflict, NotAllowed
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Prompt, PromptSet
from app.prompt_sets.ranking import gold_agrees

# States that hand out no items.
HOLDING = ("failed", "paused")
# Float shares compared with thresholds typed as decimals (0.7 of 10 is 7).
_EPSILON = 1e-9


class AnnotatorHeld(NotAllowed):
    """This annotator gets no items in this set: failed, paused, or a round that cannot run."""

    code = "annotator_held"


def percent(share: float) -> str:
    return f"{share * 100:g}%"


def held_message(set_name: str, state: str, reason: str) -> str:
    """What the annotator reads (the annotate page and the API) when they get no items."""
    if state == "failed":
        return (
            f"You did not pass the qualification round of {set_name!r}: {reason}. "
            "Real items stop here; an admin can let you try again."
        )
    return (
        f"You are paused in {set_name!r}: your recent gold answers fell short ({reason}). "
        "An admin can lift the pause."
    )


def qualifying(
    *, set_name: str, state: str | None, reason: str | None, qualification_items: int
) -> bool:
    """The claim's check, from values it read in its first round trip: raises
    AnnotatorHeld for a failed or paused annotator; True while only gold may be handed out."""
    if state in HOLDING:
        raise AnnotatorHeld(held_message(set_name, state, reason or ""))
    return qualification_items > 0 and state in (None, "qualifying")


def no_gold_left(session: Session, prompt_set_id: int, set_name: str) -> AnnotatorHeld:
    """A qualifying annotator with no gold item left to answer."""
    warning = prompt_set_service.qualification_warning(
        session, prompt_set_service.load_prompt_set(session, prompt_set_id)
    )
    if warning is not None:
        return AnnotatorHeld(
            f"{set_name!r} cannot finish your qualification round yet. {warning} "
            "Your answers so far are kept, and admins see this on the set's pages."
        )
    return AnnotatorHeld(
        f"No gold items are left for your qualification round in {set_name!r} "
        "(skipped gold items are not offered again); ask an admin."
    )


# --- deciding, in the submit of a gold answer -------------------------------------------

_SET: BindParameter[int] = bindparam("set_id")
_WHO: BindParameter[int] = bindparam("who")
# The set's rules, with the annotator's row locked: two tabs submitting gold at once
# decide one after the other. The submit already holds this lock (it takes the user row
# first, app.annotation.assignment's lock order); taking it here again costs nothing and
# keeps this function safe for any caller.
_RULES = (
    select(
        PromptSet.qualification_items,
        PromptSet.qualification_min_agreement,
        PromptSet.gold_pause_below,
        PromptSet.gold_window,
    )
    .join(User, User.id == _WHO)
    .where(PromptSet.id == _SET)
    .with_for_update(of=User)
)
# The annotator's standing, read in its own statement once the lock is held (issue 20,
# item 7). Not a join in the locking statement: on PostgreSQL that statement's snapshot
# predates the wait for the lock, so it would miss the standing a concurrent gold submit
# inserted meanwhile, insert a second one and fail on the primary key (a 500). The same
# stale-snapshot rule as the claim's `_STANDING` (app.annotation.assignment).
_STANDING = select(AnnotatorStanding.state, AnnotatorStanding.counts_after_annotation_id).where(
    AnnotatorStanding.prompt_set_id == _SET, AnnotatorStanding.annotator_id == _WHO
)
_GOLD_ANSWERS = (
    select(Annotation.ranking, Prompt.gold_ranking)
    .join(Prompt, Prompt.id == Annotation.prompt_id)
    .where(
        Prompt.prompt_set_id == _SET,
        Prompt.is_gold.is_(True),
        Prompt.gold_ranking.is_not(None),
        Annotation.annotator_id == _WHO,
        Annotation.id > bindparam("after"),
    )
)


def _agreed(session: Session, params: dict[str, Any], *, newest: bool, limit: int) -> list[bool]:
    order = Annotation.id.desc() if newest else Annotation.id
    rows = session.connection().execute(_GOLD_ANSWERS.order_by(order).limit(limit), params)
    return [gold_agrees(row.ranking, row.gold_ranking) for row in rows]


def record_gold_answer(
    session: Session, *, prompt_set_id: int, annotator_id: int, now: dt.datetime
) -> None:
    """Re-decide the annotator's standing after a gold answer was stored (flushed, not
    committed: the submit's one commit carries both)."""
    params: dict[str, Any] = {"set_id": prompt_set_id, "who": annotator_id}
    conn = session.connection()
    rules = conn.execute(_RULES, params).one()
    held = conn.execute(_STANDING, params).first()
    needed = rules.qualification_items
    state = (held.state if held else None) or ("qualifying" if needed else "qualified")
    if state in HOLDING:
        return  # a lease taken before the hold, submitted since: kept, decides nothing
    params["after"] = (held.counts_after_annotation_id if held else None) or 0
    if state == "qualifying" and needed:
        _decide_round(session, params, rules, now, has_row=held is not None)
    elif rules.gold_pause_below is not None:
        _check_pause(session, params, rules, now, has_row=held is not None)


def _decide_round(
    session: Session, params: dict[str, Any], rules: Row, now: dt.datetime, *, has_row: bool
) -> None:
    needed, threshold = rules.qualification_items, rules.qualification_min_agreement
    answers = _agreed(session, params, newest=False, limit=needed)
    if len(answers) < needed:
        reason = f"qualification round: {len(answers)} of {needed} gold items answered"
        _save(session, params, "qualifying", reason, now, exists=has_row)
        return
    agreed = sum(answers)
    numbers = f"{agreed} of {needed} gold items agreed, {percent(threshold)} needed"
    passed = agreed / needed + _EPSILON >= threshold
    state = "qualified" if passed else "failed"
    reason = f"passed the qualification round: {numbers}" if passed else numbers
    _save(session, params, state, reason, now, exists=has_row)


def _check_pause(
    session: Session, params: dict[str, Any], rules: Row, now: dt.datetime, *, has_row: bool
) -> None:
    window, floor = rules.gold_window, rules.gold_pause_below
    answers = _agreed(session, params, newest=True, limit=window)
    if len(answers) < window:
        return  # too few answers since the round (or the last lift) to judge
    agreed = sum(answers)
    if agreed / window + _EPSILON < floor:
        reason = f"{agreed} of the last {window} gold items agreed, {percent(floor)} needed"
        _save(session, params, "paused", reason, now, exists=has_row)


def _save(
    session: Session,
    params: dict[str, Any],
    state: str,
    reason: str,
    now: dt.datetime,
    *,
    exists: bool,
) -> None:
    """Write the system's decision (updated_by None) for params' set and annotator."""
    values: dict[str, Any] = {"state": state, "reason": reason, "updated_at": now}
    values["updated_by_id"] = None
    if exists:
        session.execute(
            update(AnnotatorStanding)
            .where(
                AnnotatorStanding.prompt_set_id == params["set_id"],
                AnnotatorStanding.annotator_id == params["who"],
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    else:
        session.add(
            AnnotatorStanding(prompt_set_id=params["set_id"], annotator_id=params["who"], **values)
        )
        session.flush()
    if state in HOLDING:  # failed or paused just now: tell the subscribed endpoints
        webhook_events.annotator_held(
            session,
            prompt_set_id=params["set_id"],
            annotator_id=params["who"],
            state=state,
            reason=reason,
        )


# --- admins: see and lift ---------------------------------------------------------------


@dataclass
class StandingRow:
    prompt_set_id: int
    prompt_set_name: str
    annotator_id: int
    username: str
    state: str
    reason: str
    updated_at: dt.datetime
    updated_by: str | None  # None: decided by a gold answer

    @property
    def held(self) -> bool:
        return self.state in HOLDING


def list_standings(
    session: Session, *, prompt_set_id: int | None = None, annotator_id: int | None = None
) -> list[StandingRow]:
    """Standings of a set (or of a person), by set name then username."""
    admin = aliased(User)
    query = (
        select(
            AnnotatorStanding,
            PromptSet.name,
            User.username,
            admin.username.label("admin_name"),
        )
        .join(PromptSet, PromptSet.id == AnnotatorStanding.prompt_set_id)
        .join(User, User.id == AnnotatorStanding.annotator_id)
        .outerjoin(admin, admin.id == AnnotatorStanding.updated_by_id)
        .order_by(PromptSet.name, User.username)
    )
    if prompt_set_id is not None:
        query = query.where(AnnotatorStanding.prompt_set_id == prompt_set_id)
    if annotator_id is not None:
        query = query.where(AnnotatorStanding.annotator_id == annotator_id)
    return [
        StandingRow(
            s.prompt_set_id,
            set_name,
            s.annotator_id,
            username,
            s.state,
            s.reason,
            s.updated_at,
            admin_name,
        )
        for s, set_name, username, admin_name in session.execute(query)
    ]


class NothingToLift(Conflict):
    code = "nothing_to_lift"


def lift(
    session: Session,
    *,
    prompt_set_id: int,
    annotator_id: int,
    admin: User,
    now: dt.datetime | None = None,
) -> StandingRow:
    """Lift a pause (back to "qualified") or let a failed annotator retry the round
    (back to "qualifying", with gold items they have not seen). Earlier gold answers stop
    counting; the old reason stays in the new one, with who lifted it. Commits."""
    now = now or utcnow()
    prompt_set_service.load_prompt_set(session, prompt_set_id)  # 404 for an unknown set
    standing = session.scalars(
        select(AnnotatorStanding)
        .where(
            AnnotatorStanding.prompt_set_id == prompt_set_id,
            AnnotatorStanding.annotator_id == annotator_id,
        )
        .with_for_update()
    ).first()
    if standing is None or standing.state not in HOLDING:
        state = standing.state if standing else "not started"
        raise NothingToLift(
            f"Annotator {annotator_id} is {state} in prompt set {prompt_set_id}: "
            "only a failed or paused annotator can be lifted."
        )
    last = session.scalar(
        select(func.max(Annotation.id)).where(Annotation.annotator_id == annotator_id)
    )
    retry = standing.state == "failed"
    what = "retry of the qualification round allowed" if retry else "pause lifted"
    was = f"was {standing.state}: {standing.reason}"
    reason = f"{what} by {admin.username} on {now:%Y-%m-%d %H:%M} UTC ({was})"
    standing.state = "qualifying" if retry else "qualified"
    standing.reason, standing.updated_at, standing.updated_by_id = reason, now, admin.id
    standing.counts_after_annotation_id = last or 0
    session.commit()
    rows = list_standings(session, prompt_set_id=prompt_set_id, annotator_id=annotator_id)
    return rows[0]


def hold_message(session: Session, prompt_set: PromptSet, annotator_id: int) -> str | None:
    """Why the claim hands this annotator nothing in the set (None: nothing is held back,
    the set simply has nothing left for them). For pages and `?next=1` answers that got
    no item; the claim itself raises AnnotatorHeld with the same words."""
    row = session.get(AnnotatorStanding, (prompt_set.id, annotator_id))
    try:
        gold_only = qualifying(
            set_name=prompt_set.name,
            state=row.state if row else None,
            reason=row.reason if row else None,
            qualification_items=prompt_set.qualification_items,
        )
    except AnnotatorHeld as exc:
        return exc.message
    return no_gold_left(session, prompt_set.id, prompt_set.name).message if gold_only else None
