"""Read what an export needs, one prompt at a time, with server-side cursors.

Three ordered streams (annotations with their prompt, candidates, stored comparisons) are
merged by prompt id, so memory holds one prompt's data however large the export. Each
stream is a separate `yield_per` query: on PostgreSQL a named (server-side) cursor.

Exports by origin (issue 13): judge rankings live in `judge_ranking`, never in
`annotation`. With `origin=judge` or `all` a fourth stream of ranked judge rankings is
read the same way and merged into the annotations by prompt id, each as an AnnotationRec
whose `judge` names the judge version; its pairs are derived from its ranking (judges
store no comparisons).
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy import Result, Select, Text, cast, false, func, literal, null, select
from sqlalchemy.orm import Session

from app.analytics.reliability import VoteTable
from app.annotation.models import Annotation, Comparison
from app.annotation.tallies import AnnotatorPromptTally
from app.exports.schemas import ExportOptions
from app.judges.models import Judge, JudgeRanking
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.prompt_sets.ranking import derive_comparisons

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
    # Whether a judge's suggested order was the annotator's starting order (anchoring).
    suggestion_shown: bool = False
    # A judge version's ranking: its stable pseudonym ("judge:<name>@v<version>"); None
    # for a person's. A judge's annotator_id is minus its judge (version) id, never a user.
    judge: str | None = None


def judge_pseudonym(name: str, version: int) -> str:
    """How a judge version is named in exports: stable, and never a person's pseudonym."""
    return f"judge:{name}@v{version}"


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
            Annotation.suggestion_shown,
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
    if options.exclude_suggestion_shown:
        where.append(Annotation.suggestion_shown.is_(False))
    return where


def _judge_filters(options: ExportOptions) -> list[Any]:
    """Which judge rankings an export holds (on JudgeRanking joined with Judge and Prompt):
    ranked ones only (a failure has no ranking), of the current version of each judge
    unless every version was asked for. `annotators` names people: it does not filter
    judges, whose rows come with `origin`."""
    where: list[Any] = [
        Prompt.prompt_set_id.in_(options.prompt_set_ids),
        JudgeRanking.status == "ranked",
    ]
    if options.judge_versions == "current":
        where.append(Judge.is_current.is_(True))
    if options.exclude_gold:
        where.append(Prompt.is_gold.is_(False))
    if options.created_after is not None:
        where.append(JudgeRanking.created_at >= options.created_after)
    if options.created_before is not None:
        where.append(JudgeRanking.created_at < options.created_before)
    return where


def _judge_query(options: ExportOptions) -> Select:
    """Judge rankings in the annotation stream's column layout, ordered by prompt id."""
    return (
        select(
            JudgeRanking.prompt_id,
            Prompt.prompt_set_id,
            Prompt.external_id,
            Prompt.text,
            _as_text(Prompt.messages),
            PromptSet.system_prompt,
            Prompt.content_hash,
            JudgeRanking.id,
            -JudgeRanking.judge_id,
            _as_text(JudgeRanking.ranking),
            false(),
            literal("{}"),
            literal("{}"),
            null(),
            JudgeRanking.seconds_spent,
            JudgeRanking.created_at,
            null(),
            false(),
            Judge.name,
            Judge.version,
        )
        .join(Judge, Judge.id == JudgeRanking.judge_id)
        .join(Prompt, Prompt.id == JudgeRanking.prompt_id)
        .join(PromptSet, PromptSet.id == Prompt.prompt_set_id)
        .where(*_judge_filters(options))
        .order_by(JudgeRanking.prompt_id, Judge.name, Judge.version)
    )


def judge_versions_included(session: Session, options: ExportOptions) -> list[dict[str, Any]]:
    """The judge versions whose rankings an export holds, with how many (for the card);
    empty for a people-only export."""
    if options.origin == "human":
        return []
    rows = session.execute(
        select(Prompt.prompt_set_id, Judge.name, Judge.version, Judge.mode, func.count())
        .select_from(JudgeRanking)
        .join(Judge, Judge.id == JudgeRanking.judge_id)
        .join(Prompt, Prompt.id == JudgeRanking.prompt_id)
        .where(*_judge_filters(options))
        .group_by(Prompt.prompt_set_id, Judge.name, Judge.version, Judge.mode)
        .order_by(Prompt.prompt_set_id, Judge.name, Judge.version)
    )
    return [
        {
            "prompt_set_id": set_id,
            "annotator": judge_pseudonym(name, version),
            "mode": mode,
            "rankings": n,
        }
        for set_id, name, version, mode, n in rows
    ]


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
    if options.origin != "human":
        return None  # judge pairs are derived from rankings, not stored: counted by reading
    sql_only = (options.created_after, options.created_before, options.exclude_suggestion_shown)
    if not any(sql_only):
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


def comparison_table(session: Session, options: ExportOptions) -> VoteTable:
    """(annotator id, chosen, rejected) of every comparison of the rankings the export
    keeps: the reliability fit's input (ties are not comparisons), read YIELD_PER rows at a
    time straight into int64 arrays. By `origin`: people's stored comparisons, and judges'
    derived from their rankings (annotator id: minus the judge version's id, as in the
    export's rows), so every voter has a weight."""
    table = VoteTable()
    if options.origin != "judge":
        columns = select(
            Annotation.annotator_id,
            Comparison.chosen_candidate_id,
            Comparison.rejected_candidate_id,
        ).select_from(Comparison)
        result = _stream(session, _kept_comparisons(columns, options))
        try:
            for rows in result.partitions():
                table.add_flat(chain.from_iterable(rows), len(rows) * 3)
        finally:
            result.close()
    if options.origin != "human":
        judged = _stream(session, _judge_query(options))
        try:
            table.extend(
                (row[8], d.chosen_id, d.rejected_id)
                for row in judged
                for d in derive_comparisons(_json(row[9]))
            )
        finally:
            judged.close()
    return table


def verdicts_version(session: Session, options: ExportOptions) -> list[Any]:
    """What `comparison_table` reads depends on, beyond the options: the data version of a
    cached reliability fit. Annotations and judge rankings are only ever added (or deleted
    with their person, set or judge), so their count and highest id change with them; the
    current judge versions and the gold prompts (by the sum of their ids) are the other
    inputs of the filters. One aggregate per table, over the sets' rows (not the
    per-annotator tallies of issue 16: they leave gold prompts' annotations out)."""
    in_sets = Prompt.prompt_set_id.in_(options.prompt_set_ids)
    people = session.execute(
        select(func.count(Annotation.id), func.max(Annotation.id))
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(in_sets)
    ).one()
    judged = session.execute(
        select(func.count(JudgeRanking.id), func.max(JudgeRanking.id))
        .join(Prompt, Prompt.id == JudgeRanking.prompt_id)
        .where(in_sets, JudgeRanking.status == "ranked")
    ).one()
    judges = session.scalars(
        select(Judge.id)
        .where(Judge.prompt_set_id.in_(options.prompt_set_ids), Judge.is_current.is_(True))
        .order_by(Judge.id)
    ).all()
    gold = session.execute(
        select(func.count(Prompt.id), func.coalesce(func.sum(Prompt.id), 0)).where(
            in_sets, Prompt.is_gold.is_(True)
        )
    ).one()
    return [list(people), list(judged), list(judges), list(gold)]


def judge_pseudonyms(session: Session, annotator_ids: Iterable[int]) -> dict[int, str]:
    """Judge versions' export names by their annotator id (minus the judge id)."""
    ids = [-uid for uid in annotator_ids if uid < 0]
    if not ids:
        return {}
    rows = session.execute(select(Judge.id, Judge.name, Judge.version).where(Judge.id.in_(ids)))
    return {-judge_id: judge_pseudonym(name, version) for judge_id, name, version in rows}


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
    """Prompts (in id order) that have at least one ranking passing the filters: people's
    annotations, judges' rankings or both (`origin`); a prompt's people come first."""
    results: list[Result[*tuple[Any, ...]]] = []
    try:
        rankings: Iterable[Any]
        if options.origin != "judge":
            results.append(_stream(session, _annotation_query(options)))
        if options.origin != "human":
            results.append(_stream(session, _judge_query(options)))
        # heapq.merge is stable: on equal prompt ids the annotations' rows come first.
        rankings = heapq.merge(*results, key=_prompt_of) if len(results) > 1 else results[0]
        results.append(_stream(session, _candidate_query(options)))
        candidates = _Follower(results[-1])
        comparisons = None
        if with_comparisons:
            results.append(_stream(session, _comparison_query(options)))
            comparisons = _Follower(results[-1])
        group: PromptGroup | None = None
        for row in rankings:
            if group is None or row[0] != group.prompt_id:
                if group is not None:
                    yield _complete(group, candidates, comparisons)
                group = PromptGroup(*row[:7])
                group.messages = _json(row[4])
            # A judge stream's row carries the judge's name and version after the columns
            # it shares with the annotation stream.
            judge = judge_pseudonym(row[18], row[19]) if len(row) > 18 else None
            group.annotations.append(
                AnnotationRec(
                    row[7],
                    row[8],
                    _json(row[9]),
                    row[10],
                    _json(row[11]),
                    _json(row[12]),
                    row[13],
                    row[14],
                    row[15],
                    row[16],
                    row[17],
                    judge,
                )
            )
        if group is not None:
            yield _complete(group, candidates, comparisons)
    finally:
        # Server-side cursors stay open until closed: the followers are rarely read to
        # the end, and a client may hang up mid-stream.
        for result in results:
            result.close()


def _prompt_of(row: Any) -> int:
    return row[0]


def _complete(
    group: PromptGroup, candidates: _Follower, comparisons: _Follower | None
) -> PromptGroup:
    group.candidates = {
        r[1]: CandidateRec(r[1], r[2], r[3], r[4]) for r in candidates.take(group.prompt_id)
    }
    if comparisons is not None:
        kept = {a.id for a in group.annotations if a.judge is None}
        group.comparisons = [
            ComparisonRec(*r[1:]) for r in comparisons.take(group.prompt_id) if r[2] in kept
        ]
    return group
