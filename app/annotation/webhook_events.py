"""The annotation layer's webhook events, queued in the submit's own transaction through the
outbox (app.core.webhooks.outbox): a rolled-back submit sends nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.webhooks import events, outbox


def seats_decided(session: Session, rules: Any, outcome: str | None, rankings: int) -> None:
    """After a submit's escalation decision (app.annotation.escalation): "completed" sends
    prompt.completed; "escalated" and "adjudication" send prompt.contested (a prompt sent to
    adjudication gets no more rankings, so it is also completed)."""
    if outcome is None:
        return
    seats = rules.annotators_per_prompt + rules.extra_seats + (outcome == "escalated")
    data = {
        "prompt_set_id": rules.prompt_set_id,
        "prompt_id": rules.prompt_id,
        "rankings": rankings,
        "seats": seats,
    }
    if outcome in ("escalated", "adjudication"):
        outbox.emit(session, events.PROMPT_CONTESTED, {**data, "outcome": outcome})
    if outcome in ("completed", "adjudication"):
        outbox.emit(session, events.PROMPT_COMPLETED, data)


def annotator_held(
    session: Session, *, prompt_set_id: int, annotator_id: int, state: str, reason: str
) -> None:
    """A gold answer failed the annotator's qualification round or paused them."""
    username = session.scalar(select(User.username).where(User.id == annotator_id))
    outbox.emit(
        session,
        events.ANNOTATOR_HELD,
        {
            "prompt_set_id": prompt_set_id,
            "annotator_id": annotator_id,
            "username": username,
            "state": state,
            "reason": reason,
        },
    )
