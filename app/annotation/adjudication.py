"""The adjudication queue: prompts still contested at their set's annotators_max, and the
ranking an admin or expert settles them with (issue 13).

A prompt is queued when escalation gave it every seat it may have (k + extra_seats has
reached annotators_max), that many human rankings are in, they are still contested
(app.annotation.disagreement) and nobody has adjudicated it yet. The queue is one query
over the prompt rows: the submit stores each prompt's measure on it
(app.annotation.tallies). The adjudication is stored apart from annotations
(`Adjudication`): it takes no seat and counts toward no agreement or annotator statistic;
the consensus export takes it over the vote.
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.annotation.disagreement import Disagreement
from app.annotation.escalation import rule_of
from app.annotation.models import MAX_RATIONALE_CHARS, Adjudication, Annotation
from app.core import audit
from app.core.audit import Target
from app.core.errors import Conflict, InvalidInput
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.prompt_sets.ranking import Ranking, validate_ranking


class NotContested(Conflict):
    code = "not_contested"


@dataclass(frozen=True)
class QueuedPrompt:
    prompt_id: int
    external_id: str | None
    preview: str
    disagreement: Disagreement


@dataclass(frozen=True)
class CandidateView:
    id: int
    label: str
    text: str


@dataclass(frozen=True)
class AdjudicationItem:
    """What an adjudicator sees: the prompt, its candidates under fixed letters, and the
    annotators' rankings in those letters (anonymised: "annotator 1", "annotator 2")."""

    prompt: Prompt
    candidates: list[CandidateView]
    rankings: list[str]
    disagreement: Disagreement


def _preview(prompt: Any) -> str:
    text = prompt.text if prompt.text is not None else (prompt.messages or [{}])[-1].get("content")
    text = " ".join(str(text or "").split())
    return text if len(text) <= 120 else text[:119] + "…"


def _waiting(prompt_set: PromptSet) -> Select[Any]:
    """The set's prompts in the queue, as one indexed query (issue 22): their seat target
    has reached annotators_max, that many rankings are in, the measure the submit stored on
    the prompt row is contested under the set's rule now, and nobody settled them yet.
    (`Disagreement.contested` in SQL: the rule may change after the measure was stored.)"""
    k = prompt_set.annotators_per_prompt
    k_max = prompt_set.annotators_max or k
    rule = rule_of(prompt_set)
    contested = Prompt.human_mean_tau < rule.below_tau
    if rule.on_split_top:
        contested = or_(contested, Prompt.human_top_split.is_(True))
    settled = exists().where(Adjudication.prompt_id == Prompt.id)
    return select(Prompt).where(
        Prompt.prompt_set_id == prompt_set.id,
        Prompt.extra_seats >= k_max - k,
        Prompt.is_gold.is_(False),
        Prompt.human_rankings >= k_max,
        Prompt.human_mean_tau.is_not(None),
        contested,
        ~settled,
    )


def _disagreement(prompt: Any) -> Disagreement:
    return Disagreement(prompt.human_rankings, prompt.human_mean_tau, prompt.human_top_split)


def _rankings_of(session: Session, prompt_id: int) -> list[Ranking]:
    query = select(Annotation.ranking).where(Annotation.prompt_id == prompt_id)
    return list(session.scalars(query.order_by(Annotation.id)))


def _escalating(prompt_set: PromptSet) -> bool:
    return (prompt_set.annotators_max or 0) > prompt_set.annotators_per_prompt


def queue(session: Session, *, prompt_set_id: int) -> list[QueuedPrompt]:
    """The set's prompts waiting for adjudication, in id order (empty when escalation is off)."""
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    if not _escalating(prompt_set):
        return []
    shown = (
        Prompt.id,
        Prompt.external_id,
        Prompt.text,
        Prompt.messages,
        Prompt.human_rankings,
        Prompt.human_mean_tau,
        Prompt.human_top_split,
    )
    rows = session.execute(_waiting(prompt_set).with_only_columns(*shown).order_by(Prompt.id))
    return [QueuedPrompt(p.id, p.external_id, _preview(p), _disagreement(p)) for p in rows]


def queue_length(session: Session, *, prompt_set_id: int) -> int:
    """How many prompts `queue` lists (the dashboard's count), counted in SQL."""
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    if not _escalating(prompt_set):
        return 0
    return session.scalar(select(func.count()).select_from(_waiting(prompt_set).subquery())) or 0


def _queued_prompt(
    session: Session, prompt_set_id: int, prompt_id: int
) -> tuple[Prompt, Disagreement]:
    """The prompt if it is in the set's queue now: (prompt, disagreement); 404/409 otherwise."""
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    prompt = None
    if _escalating(prompt_set):
        prompt = session.scalar(_waiting(prompt_set).where(Prompt.id == prompt_id))
    if prompt is None:
        prompt_set_service.load_prompt(session, prompt_id, prompt_set_id)  # 404 when not here
        raise NotContested(f"Prompt {prompt_id} is not waiting for adjudication.")
    return prompt, _disagreement(prompt)


def _labels(candidate_ids: list[int]) -> dict[int, str]:
    return {cid: string.ascii_uppercase[i] for i, cid in enumerate(sorted(candidate_ids))}


def ranking_text(ranking: Ranking, labels: dict[int, str]) -> str:
    """[[3], [1, 4]] -> "C > A = D" in the given letters."""
    return " > ".join(" = ".join(labels[cid] for cid in group) for group in ranking)


def item(session: Session, *, prompt_set_id: int, prompt_id: int) -> AdjudicationItem:
    prompt, found = _queued_prompt(session, prompt_set_id, prompt_id)
    candidates = session.execute(
        select(Candidate.id, Candidate.text).where(Candidate.prompt_id == prompt_id)
    ).all()
    labels = _labels([c.id for c in candidates])
    views = sorted((CandidateView(c.id, labels[c.id], c.text) for c in candidates), key=_label)
    rankings = _rankings_of(session, prompt_id)
    shown = [f"annotator {i}: {ranking_text(r, labels)}" for i, r in enumerate(rankings, 1)]
    return AdjudicationItem(prompt, views, shown, found)


def _label(view: CandidateView) -> str:
    return view.label


def adjudicate(
    session: Session,
    *,
    prompt_set_id: int,
    prompt_id: int,
    adjudicator: User,
    ranking: Any,
    note: str | None = None,
) -> Adjudication:
    """Settle a queued prompt with a ranking (validated like an annotation's). Commits."""
    _queued_prompt(session, prompt_set_id, prompt_id)
    ids = prompt_set_service.candidate_ids(session, prompt_id)
    checked = [sorted(group) for group in validate_ranking(ranking, ids, _labels(ids))]
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_RATIONALE_CHARS:
        message = f"the note has {len(note)} characters; the limit is {MAX_RATIONALE_CHARS}"
        raise InvalidInput(
            f"The adjudication was not saved: {message}.",
            errors=[{"field": "note", "message": message}],
        )
    row = Adjudication(
        prompt_id=prompt_id, adjudicator_id=adjudicator.id, ranking=checked, note=note
    )
    session.add(row)
    try:
        session.flush()
        audit.record(
            session,
            adjudicator,
            "adjudication.settled",
            Target("prompt", prompt_id),
            audit.created({"ranking": checked, "note": note}),
            details={"prompt_set_id": prompt_set_id, "adjudication_id": row.id},
        )
        session.commit()
    except IntegrityError as exc:  # someone settled it a moment before us
        session.rollback()
        raise NotContested(f"Prompt {prompt_id} was just adjudicated by someone else.") from exc
    return row


def ranking_from_form(form: Mapping[str, Any], candidate_ids: list[int]) -> Ranking:
    """The page's rank numbers (`rank_<candidate id>`: 1 = best, equal numbers tie) as tie
    groups, best first; every unreadable number is named in one 422."""
    groups: dict[int, list[int]] = defaultdict(list)
    errors = []
    labels = _labels(candidate_ids)
    for cid in sorted(candidate_ids):
        raw = str(form.get(f"rank_{cid}", "")).strip()
        if not raw.isdigit() or not 1 <= int(raw) <= len(candidate_ids):
            message = f"rank of {labels[cid]} must be a number from 1 to {len(candidate_ids)}"
            errors.append({"field": f"rank_{cid}", "message": message})
            continue
        groups[int(raw)].append(cid)
    if errors:
        summary = "; ".join(e["message"] for e in errors)
        raise InvalidInput(f"The adjudication was not saved: {summary}.", errors=errors)
    return [groups[rank] for rank in sorted(groups)]


def adjudicated_rankings(session: Session, prompt_set_ids: Sequence[int]) -> dict[int, Ranking]:
    """prompt id -> its adjudicated ranking, for the given sets (the consensus export)."""
    query = (
        select(Adjudication.prompt_id, Adjudication.ranking)
        .join(Prompt, Prompt.id == Adjudication.prompt_id)
        .where(Prompt.prompt_set_id.in_(prompt_set_ids))
    )
    return {prompt_id: ranking for prompt_id, ranking in session.execute(query)}
