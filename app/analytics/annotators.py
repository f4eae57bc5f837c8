"""Per-annotator numbers for admins: throughput, skips, flags, agreement, gold accuracy.

Pure: the rows come from app.analytics.loaders, the agreement maths from
app.annotation.tallies; this module puts the numbers side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.analytics.loaders import AnnotatorTally, GoldAnswer, Person
from app.prompt_sets.ranking import gold_scores


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


def annotator_rows(
    tallies: Iterable[AnnotatorTally],
    gold: Mapping[int, GoldTally],
    people: Mapping[int, Person],
) -> list[AnnotatorStats]:
    """One row per person who annotated or skipped, by username."""
    rows = []
    by_name = sorted(
        tallies, key=lambda t: people[t.annotator_id].username if t.annotator_id in people else ""
    )
    for tally in by_name:
        user_id, done = tally.annotator_id, tally.done
        person = people.get(user_id)
        row = AnnotatorStats(
            user_id,
            person.username if person else f"#{user_id}",
            bool(person and person.is_active),
            annotations=done,
            median_seconds=tally.median_seconds if done else None,
            skip_rate=tally.skipped / (done + tally.skipped) if done + tally.skipped else None,
            flag_rate=tally.flagged / done if done else None,
        )
        if tally.agree_total:
            row.agreement = tally.agree / tally.agree_total
            row.agreement_votes = tally.agree_total
        if user_id in gold:
            g = gold[user_id]
            row.gold_items = g.items
            row.gold_accuracy = g.matched / g.pairs if g.pairs else None
            row.gold_top_match = g.top / g.items
        rows.append(row)
    return rows
