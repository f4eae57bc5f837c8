"""Per-annotator numbers for admins: throughput, skips, flags, agreement, gold accuracy.

The agreement statistics come from app.analytics (one implementation for the whole app);
this module only gathers the rows and puts the numbers side by side.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.analytics.agreement import annotator_agreement
from app.analytics.votes import load_votes
from app.annotation.models import Annotation, Assignment
from app.prompt_sets.models import Prompt, PromptSet
from app.prompt_sets.ranking import derive_comparisons, rank_of


@dataclass
class AnnotatorStats:
    user_id: int
    username: str
    is_active: bool
    annotations: int = 0
    median_seconds: float | None = None
    skip_rate: float | None = None
    flag_rate: float | None = None
    agreement: float | None = None  # share of their pairwise votes that match the majority
    agreement_votes: int = 0
    gold_items: int = 0
    gold_accuracy: float | None = None  # share of the gold ranking's pair orders matched
    gold_top_match: float | None = None  # share of gold items where their top pick is the gold best


def _in_set(query, prompt_set_id: int | None, prompt_column):  # type: ignore[no-untyped-def]
    if prompt_set_id is None:
        return query
    return query.join(Prompt, Prompt.id == prompt_column).where(
        Prompt.prompt_set_id == prompt_set_id
    )


def gold_scores(ranking: list[list[int]], gold: list[list[int]]) -> tuple[int, int, bool]:
    """(gold pair orders matched, gold pair orders, top pick is a gold best).

    Only the gold ranking's strict orders count: where gold ties candidates (as a known
    best candidate ties all the others), any order is accepted."""
    ranks = rank_of(ranking)
    pairs = derive_comparisons(gold)
    matched = sum(
        1
        for p in pairs
        if p.chosen_id in ranks
        and p.rejected_id in ranks
        and ranks[p.chosen_id] < ranks[p.rejected_id]
    )
    top = bool(ranking) and bool(set(ranking[0]) & set(gold[0]))
    return matched, len(pairs), top


@dataclass
class _GoldTally:
    items: int = 0
    matched: int = 0
    pairs: int = 0
    top: int = 0


def _gold(session: Session, prompt_set_id: int | None) -> dict[int, _GoldTally]:
    query = (
        select(Annotation.annotator_id, Annotation.ranking, Prompt.gold_ranking)
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(Prompt.is_gold.is_(True))
    )
    if prompt_set_id is not None:
        query = query.where(Prompt.prompt_set_id == prompt_set_id)
    totals: dict[int, _GoldTally] = defaultdict(_GoldTally)
    for annotator_id, ranking, gold in session.execute(query):
        if not gold:
            continue
        matched, pairs, top = gold_scores(ranking, gold)
        tally = totals[annotator_id]
        tally.items += 1
        tally.matched += matched
        tally.pairs += pairs
        tally.top += top
    return totals


def annotator_stats(session: Session, prompt_set_id: int | None = None) -> list[AnnotatorStats]:
    """One row per person who annotated or skipped (in one set, or everywhere)."""
    annotations = session.execute(
        _in_set(
            select(Annotation.annotator_id, Annotation.seconds_spent, Annotation.flags),
            prompt_set_id,
            Annotation.prompt_id,
        )
    ).all()
    seconds: dict[int, list[float]] = defaultdict(list)
    flagged: Counter[int] = Counter()
    for annotator_id, spent, flags in annotations:
        seconds[annotator_id].append(spent)
        flagged[annotator_id] += bool(flags and any(flags.values()))
    skips = dict(
        session.execute(
            _in_set(
                select(Assignment.annotator_id, func.count()).where(Assignment.status == "skipped"),
                prompt_set_id,
                Assignment.prompt_id,
            ).group_by(Assignment.annotator_id)
        ).all()
    )
    agreement = _agreement(session, prompt_set_id)
    gold = _gold(session, prompt_set_id)
    ids = set(seconds) | set(skips)
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    rows = []
    for user_id in sorted(ids, key=lambda i: users[i].username if i in users else ""):
        user = users.get(user_id)
        done = len(seconds[user_id])
        row = AnnotatorStats(
            user_id,
            user.username if user else f"#{user_id}",
            bool(user and user.is_active),
            annotations=done,
            median_seconds=statistics.median(seconds[user_id]) if done else None,
            skip_rate=skips.get(user_id, 0) / (done + skips.get(user_id, 0)),
            flag_rate=flagged[user_id] / done if done else None,
        )
        if user_id in agreement:
            row.agreement, row.agreement_votes = agreement[user_id]
        if user_id in gold:
            tally = gold[user_id]
            row.gold_items = tally.items
            row.gold_accuracy = tally.matched / tally.pairs if tally.pairs else None
            row.gold_top_match = tally.top / tally.items
        rows.append(row)
    return rows


def _agreement(session: Session, prompt_set_id: int | None) -> dict[int, tuple[float | None, int]]:
    """Leave-one-out majority agreement, per set (pairs never span sets), summed over sets."""
    set_ids = (
        [prompt_set_id]
        if prompt_set_id is not None
        else list(session.scalars(select(PromptSet.id)))
    )
    agree: Counter[int] = Counter()
    total: Counter[int] = Counter()
    for set_id in set_ids:
        for annotator_id, score in annotator_agreement(load_votes(session, set_id)).items():
            agree[annotator_id] += score.agree
            total[annotator_id] += score.total
    return {a: (agree[a] / total[a] if total[a] else None, total[a]) for a in total}
