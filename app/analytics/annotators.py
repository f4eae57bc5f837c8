"""Per-annotator numbers for admins: throughput, skips, flags, agreement, gold accuracy.

Pure: the rows come from app.analytics.loaders, the agreement maths from
app.analytics.agreement; this module puts the numbers side by side.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.analytics.agreement import AgreementScore
from app.analytics.loaders import GoldAnswer, Person, WorkRow
from app.prompt_sets.ranking import Ranking, derive_comparisons, rank_of


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


def gold_scores(ranking: Ranking, gold: Ranking) -> tuple[int, int, bool]:
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
class GoldTally:
    items: int = 0
    matched: int = 0
    pairs: int = 0
    top: int = 0


def gold_tallies(answers: Iterable[GoldAnswer]) -> dict[int, GoldTally]:
    """Per annotator: gold items answered and how well they matched."""
    totals: dict[int, GoldTally] = defaultdict(GoldTally)
    for answer in answers:
        if not answer.gold:
            continue
        matched, pairs, top = gold_scores(answer.ranking, answer.gold)
        tally = totals[answer.annotator_id]
        tally.items += 1
        tally.matched += matched
        tally.pairs += pairs
        tally.top += top
    return totals


def summed_agreement(per_set: Iterable[Mapping[int, AgreementScore]]) -> dict[int, AgreementScore]:
    """Agreement scores of several sets added up per annotator (pairs never span sets)."""
    agree: Counter[int] = Counter()
    total: Counter[int] = Counter()
    for scores in per_set:
        for annotator_id, score in scores.items():
            agree[annotator_id] += score.agree
            total[annotator_id] += score.total
    return {a: AgreementScore(agree[a], total[a]) for a in total}


def annotator_rows(
    work: Iterable[WorkRow],
    skips: Mapping[int, int],
    agreement: Mapping[int, AgreementScore],
    gold: Mapping[int, GoldTally],
    people: Mapping[int, Person],
) -> list[AnnotatorStats]:
    """One row per person who annotated or skipped, by username."""
    seconds: dict[int, list[float]] = defaultdict(list)
    flagged: Counter[int] = Counter()
    for done_row in work:
        seconds[done_row.annotator_id].append(done_row.seconds_spent)
        flagged[done_row.annotator_id] += bool(done_row.flags and any(done_row.flags.values()))
    ids = set(seconds) | set(skips)
    rows = []
    for user_id in sorted(ids, key=lambda i: people[i].username if i in people else ""):
        person = people.get(user_id)
        done = len(seconds[user_id])
        row = AnnotatorStats(
            user_id,
            person.username if person else f"#{user_id}",
            bool(person and person.is_active),
            annotations=done,
            median_seconds=statistics.median(seconds[user_id]) if done else None,
            skip_rate=skips.get(user_id, 0) / (done + skips.get(user_id, 0)),
            flag_rate=flagged[user_id] / done if done else None,
        )
        if user_id in agreement:
            row.agreement = agreement[user_id].rate
            row.agreement_votes = agreement[user_id].total
        if user_id in gold:
            tally = gold[user_id]
            row.gold_items = tally.items
            row.gold_accuracy = tally.matched / tally.pairs if tally.pairs else None
            row.gold_top_match = tally.top / tally.items
        rows.append(row)
    return rows
