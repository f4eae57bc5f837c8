"""Escalation: a contested prompt gets one more seat, up to its set's annotators_max.

Decided in the submit transaction (app.annotation.submission), which holds the prompt's
row lock: when the prompt's submitted rankings reach its current seat target (k plus
`Prompt.extra_seats`) and they are contested (app.annotation.disagreement), the target
rises by one seat. One seat at a time, not straight to annotators_max: the extra ranking
may settle the prompt, and every escalation is decided again on what is known then. The
claim (app.annotation.assignment) hands the new seat out under its usual rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, update

from app.annotation.disagreement import EscalationRule, measure
from app.annotation.tallies import Answer
from app.prompt_sets.models import Prompt

_RAISE_TARGET = (
    update(Prompt)
    .where(Prompt.id == bindparam("prompt"))
    .values(extra_seats=Prompt.extra_seats + 1)
)


def rule_of(row: Any) -> EscalationRule:
    """The escalation rule of a prompt set (or of a row read with its columns)."""
    return EscalationRule(row.escalate_below_tau, row.escalate_on_split_top)


def escalate_if_contested(conn: Connection, rules: Any, answers: Sequence[Answer]) -> str | None:
    """Add a seat to the prompt when its rankings fill its target and are contested.

    `rules` is the submit's locked prompt row (prompt_id, is_gold, extra_seats and the
    set's annotators_per_prompt, annotators_max and rule); `answers` the prompt's
    finished assignments, this submit's included. Returns what this submit decided, for
    the webhook events (app.core.webhooks): "escalated" (a seat was added), or, when the
    rankings just filled the target and no seat was added, "adjudication" (contested at
    annotators_max: the adjudication queue's rule) or "completed"; None otherwise.
    """
    rankings = [a.ranking for a in answers if a.ranking is not None]
    target = rules.annotators_per_prompt + rules.extra_seats
    if rules.is_gold or len(rankings) < target:
        return None
    k_max = rules.annotators_max
    filled = len(rankings) == target  # only the submit that fills the seats decides
    if k_max is None or target >= k_max:
        if not filled:
            return None
        escalation_on = k_max is not None and k_max > rules.annotators_per_prompt
        if escalation_on and measure(rankings).contested(rule_of(rules)):
            return "adjudication"
        return "completed"
    if not measure(rankings).contested(rule_of(rules)):
        return "completed" if filled else None
    conn.execute(_RAISE_TARGET, {"prompt": rules.prompt_id})
    return "escalated"
