"""Read what an export needs, one prompt at a time, with server-side cursors.

Three ordered streams (annotations with their prompt, candidates, stored comparisons) are
merged by prompt id, so memory holds one prompt's data however large the export. Each
stream is a separate `yield_per` query: on PostgreSQL a named (server-side) cursor.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Result, Select, Text, cast, func, select
from sqlalchemy.orm import Session

from app.annotation.models import Annotation, Comparison
from app.annotation.tallies import AnnotatorPromptTally
from app.exports.schemas import ExportOptions
from app.prompt_sets.models import Candidate, Prompt, PromptSet

YIELD_PER = 5000


class AnnotationRec(NamedTuple):
    id: int
    annotator_id: int
    ranking: list[list[int]]
    all_bad: bool
    flags: dict[str, list[str]]
    ratings: dict[str, float]
    rationale: str | None
    seconds_spent: float
    created_at: dt.datetime
    order_changed: bool | None = None


class CandidateRec(NamedTuple):
    id: int
    text: str
    model: str  # a pipeline's candidate: its recipe and agents
    generator: str = ""


class ComparisonRec(NamedTuple):
    # NamedTuples, not frozen dataclasses: one is built per row and frozen dataclass
    # construction is several times slower.
    id: int
    annotation_id: int
    chosen_id: int
    rejected_id: int
    margin: int


@dataclass
class PromptGroup:
    """One prompt with its candidates, the annotations kept by the filters and their
    stored comparisons."""

    prompt_id: int
    prompt_set_id: int
    external_id: str | None
    text: str | None
    messages: list[dict[str, Any]] | None
    system_prompt: str
    content_hash: str
    annotations: list[AnnotationRec] = field(default_factory=list)
    candidates: dict[int, CandidateRec] = field(default_factory=dict)
    comparisons: list[ComparisonRec] = field(default_factory=list)


def _as_text(column: Any) -> Any:
    # JSON columns are read as their text and decoded by _json: the driver's JSON loader
    # (json.loads on bytes) was the largest cost of reading annotations, and most flags and
    # ratings are empty. A prompt's messages repeat on each of its annotations' rows and
    # are decoded once per prompt.
    return cast(column, Text)


_DECODE = json.JSONDecoder().decode


def _json(text: str | None) -> Any:
    if text is None:
        return None
    if text == "{}":
        return {}
    return _DECODE(text)


def _annotation_query(options: ExportOptions) -> Select:
    stmt = (
        select(
            Annotation.prompt_id,
            Prompt.prompt_set_id,
            Prompt.external_id,
            Prompt.text,
            _as_text(Prompt.messages),
            PromptSet.system_prompt,
            Prompt.content_hash,
            Annotation.id,
            Annotation.annotator_id,
            _as_text(Annotation.ranking),
            Annotation.all_bad,
            _as_text(Annotation.flags),
            _as_text(Annotation.ratings),
            Annotation.rationale,
            Annotation.seconds_spent,
            Annotation.created_at,
            Annotation.order_changed,
        )
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .join(PromptSet, PromptSet.id == Prompt.prompt_set_id)
        .where(*_annotation_filters(options))
        .order_by(Annotation.prompt_id, Annotation.id)
    )
    return stmt


def _annotation_filters(options: ExportOptions) -> list[Any]:
    """The options that pick annotations in SQL (on Annotation joined with Prompt)."""
    where: list[Any] = [Prompt.prompt_set_id.in_(options.prompt_set_ids)]
    if options.exclude_gold:
        where.append(Prompt.is_gold.is_(False))
    if options.created_after is not None:
        where.append(Annotation.created_at >= options.created_after)
    if options.created_before is not None:
        where.append(Annotation.created_at < options.created_before)
    if options.annotator_ids:
        where.append(Annotation.annotator_id.in_(options.annotator_ids))
    if options.excluded_annotator_ids:
        where.append(Annotation.annotator_id.not_in(options.excluded_annotator_ids))
    return where


def count_pair_rows(session: Session, options: ExportOptions) -> int | None:
    """The rows of a pairs or conversational export, counted in SQL (one row per stored
    comparison of a kept annotation), when every option that drops rows is a SQL filter;
    None when some row filter runs in Python (agreement, flags, ties, split, dedupe)."""
    python_filters = (
        options.split != "all",
        options.min_agreement is not None,
        bool(options.exclude_flags),
        options.ties != "drop",
        options.dedupe,
    )
    if options.format not in ("pairs", "conversational") or any(python_filters):
        return None
    if options.created_after is None and options.created_before is None:
        return _count_from_tallies(session, options)
    stmt = _kept_comparisons(select(func.count()).select_from(Comparison), options)
    return session.scalar(stmt) or 0


def _kept_comparisons(stmt: Select, options: ExportOptions) -> Select:
    """`stmt` over Comparison, limited to the comparisons of the annotations kept."""
    stmt = (
        stmt.join(Annotation, Annotation.id == Comparison.annotation_id)
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(*_annotation_filters(options))
    )
    if not options.include_all_bad:
        stmt = stmt.where(Annotation.all_bad.is_(False))
    return stmt


def _count_from_tallies(session: Session, options: ExportOptions) -> int:
    """The same count from the per-(prompt, annotator) tallies: a sum over 1 row per
    annotation instead of a join over every comparison."""
    t = AnnotatorPromptTally
    stmt = select(func.coalesce(func.sum(t.comparisons), 0)).where(
        t.prompt_set_id.in_(options.prompt_set_ids), t.submitted == 1
    )
    if not options.include_all_bad:
        stmt = stmt.where(t.all_bad == 0)
    if options.annotator_ids:
        stmt = stmt.where(t.annotator_id.in_(options.annotator_ids))
    if options.excluded_annotator_ids:
        stmt = stmt.where(t.annotator_id.not_in(options.excluded_annotator_ids))
    if options.exclude_gold:
        stmt = stmt.join(Prompt, Prompt.id == t.prompt_id).where(Prompt.is_gold.is_(False))
    return int(session.scalar(stmt) or 0)


def _candidate_query(options: ExportOptions) -> Select:
    return (
        select(
            Candidate.prompt_id, Candidate.id, Candidate.text, Candidate.model, Candidate.generator
        )
        .join(Prompt, Prompt.id == Candidate.prompt_id)
        .where(Prompt.prompt_set_id.in_(options.prompt_set_ids))
        .order_by(Candidate.prompt_id, Candidate.position)
    )


def _comparison_query(options: ExportOptions) -> Select:
    return (
        select(
            Comparison.prompt_id,
            Comparison.id,
            Comparison.annotation_id,
            Comparison.chosen_candidate_id,
            Comparison.rejected_candidate_id,
            Comparison.margin,
        )
        .join(Prompt, Prompt.id == Comparison.prompt_id)
        .where(Prompt.prompt_set_id.in_(options.prompt_set_ids))
        .order_by(Comparison.prompt_id, Comparison.id)
    )


def comparison_verdicts(session: Session, options: ExportOptions) -> Iterator[tuple[int, int, int]]:
    """(annotator id, chosen, rejected) of every stored comparison of the annotations the
    export keeps, streamed: the reliability fit's input (ties are not comparisons)."""
    columns = select(
        Annotation.annotator_id, Comparison.chosen_candidate_id, Comparison.rejected_candidate_id
    ).select_from(Comparison)
    result = _stream(session, _kept_comparisons(columns, options))
    try:
        for row in result:
            yield row[0], row[1], row[2]
    finally:
        result.close()


def _stream(session: Session, stmt: Select[*tuple[Any, ...]]) -> Result[*tuple[Any, ...]]:
    # Core execution on the session's connection (same transaction): the ORM's result
    # wrapping cost more than the rows themselves.
    return session.connection().execute(stmt.execution_options(yield_per=YIELD_PER))


class _Follower:
    """A stream ordered by prompt id that is read up to the driver's current prompt."""

    def __init__(self, rows: Iterable[Any]) -> None:
        self._rows = iter(rows)
        self._head: Any = next(self._rows, None)

    def take(self, prompt_id: int) -> list[Any]:
        while self._head is not None and self._head[0] < prompt_id:
            self._head = next(self._rows, None)
        out = []
        while self._head is not None and self._head[0] == prompt_id:
            out.append(self._head)
            self._head = next(self._rows, None)
        return out


def prompt_groups(
    session: Session, options: ExportOptions, *, with_comparisons: bool
) -> Iterator[PromptGroup]:
    """Prompts (in id order) that have at least one annotation passing the filters."""
    results = [_stream(session, _annotation_query(options))]
    try:
        results.append(_stream(session, _candidate_query(options)))
        candidates = _Follower(results[-1])
        comparisons = None
        if with_comparisons:
            results.append(_stream(session, _comparison_query(options)))
            comparisons = _Follower(results[-1])
        group: PromptGroup | None = None
        for row in results[0]:
            if group is None or row[0] != group.prompt_id:
                if group is not None:
                    yield _complete(group, candidates, comparisons)
                group = PromptGroup(*row[:7])
                group.messages = _json(row[4])
            group.annotations.append(
                AnnotationRec(
                    row[7],
                    row[8],
                    _json(row[9]),
                    row[10],
                    _json(row[11]),
                    _json(row[12]),
                    *row[13:],
                )
            )
        if group is not None:
            yield _complete(group, candidates, comparisons)
    finally:
        # Server-side cursors stay open until closed: the followers are rarely read to
        # the end, and a client may hang up mid-stream.
        for result in results:
            result.close()


def _complete(
    group: PromptGroup, candidates: _Follower, comparisons: _Follower | None
) -> PromptGroup:
    group.candidates = {
        r[1]: CandidateRec(r[1], r[2], r[3], r[4]) for r in candidates.take(group.prompt_id)
    }
    if comparisons is not None:
        kept = {a.id for a in group.annotations}
        group.comparisons = [
            ComparisonRec(*r[1:]) for r in comparisons.take(group.prompt_id) if r[2] in kept
        ]
    return group
