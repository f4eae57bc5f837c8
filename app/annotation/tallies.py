"""Sufficient statistics of the annotations, kept current in the transaction that changes
them, so the reports never read a million votes (issue #16).

Four tables:

- `annotator_prompt_tally`: one row per (prompt, annotator) who submitted or skipped it —
  done/skip, time, flags, vote and tie counts, agreement counters. An annotator's
  agreement on a prompt changes when somebody else ranks it, so every row of a prompt is
  rewritten (delete + insert) whenever the prompt gains an annotation or a skip. The
  prompt's row lock, which the submit path already holds, serialises these rewrites.
- `model_pair_tally`: per prompt set, comparisons won by one model over another.
- `rank_coincidence`: per prompt set, Krippendorff's coincidence counts of candidate ranks
  (by how many annotators ranked the unit), from which alpha is exact.
- `annotation_hour_tally`: per prompt set, annotations per hour (UTC).

The last three are per-set counters changed by increments (INSERT ... ON CONFLICT DO UPDATE
SET n = n + excluded.n), safe under concurrent submitters; their rows are written in key
order so two transactions never wait on each other in a cycle, and split over SHARDS rows
by prompt id so a set's submitters do not all queue on one row lock until they commit.

Everything here is derived from annotations and assignments: `rebuild` recomputes it all
from scratch (the migration's back-fill, and the tests' reference). Deleting a prompt
deletes its tally rows (cascade); only prompts without annotations are ever deleted, so
the per-set counters never need a decrement. Gold answers are not tallied: gold prompts are
few and their rankings change, so the reports read them directly.

This module sits with the annotations (below app.analytics) because the submit and skip
paths write it; app.analytics.loaders is what reads it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    Connection,
    ForeignKey,
    Index,
    Select,
    Table,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import BindParameter

from app.annotation.disagreement import measure, outcome
from app.annotation.models import FLAG_KINDS, Annotation, Assignment
from app.core.db import Base
from app.prompt_sets.models import Candidate, Prompt
from app.prompt_sets.ranking import Ranking, derive_comparisons, rank_of


class AnnotatorPromptTally(Base):
    __tablename__ = "annotator_prompt_tally"
    __table_args__ = (Index("ix_annotator_prompt_tally_set", "prompt_set_id", "annotator_id"),)

    prompt_id: Mapped[int] = mapped_column(
        ForeignKey("prompt.id", ondelete="CASCADE"), primary_key=True
    )
    annotator_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    prompt_set_id: Mapped[int] = mapped_column(ForeignKey("prompt_set.id", ondelete="CASCADE"))
    submitted: Mapped[int] = mapped_column(default=0)  # 0 or 1
    skipped: Mapped[int] = mapped_column(default=0)  # 0 or 1
    seconds: Mapped[float] = mapped_column(default=0.0)
    flagged: Mapped[int] = mapped_column(default=0)  # the annotation flagged anything
    all_bad: Mapped[int] = mapped_column(default=0)
    judged: Mapped[int] = mapped_column(default=0)  # candidates ranked
    flag_unsafe: Mapped[int] = mapped_column(default=0)  # candidates flagged with the kind
    flag_factually_wrong: Mapped[int] = mapped_column(default=0)
    flag_broken: Mapped[int] = mapped_column(default=0)
    flag_refusal: Mapped[int] = mapped_column(default=0)
    comparisons: Mapped[int] = mapped_column(default=0)
    votes: Mapped[int] = mapped_column(default=0)  # candidate pairs judged (ties included)
    tie_votes: Mapped[int] = mapped_column(default=0)
    # Over this annotator's votes: other annotators of the same pair, and how many of them
    # gave the same outcome (halved over all rows: the pairwise agreement rate).
    peer_pairs: Mapped[int] = mapped_column(default=0)
    peer_same: Mapped[int] = mapped_column(default=0)
    # Leave-one-out majority agreement: votes where the others had a majority, and matches.
    agree_total: Mapped[int] = mapped_column(default=0)
    agree: Mapped[int] = mapped_column(default=0)
    # Per-prompt numbers ride on one row of the prompt (the lowest annotator id), so the
    # reports count prompts without grouping by prompt.
    prompt_lead: Mapped[int] = mapped_column(default=0)  # 1 on that row
    prompt_annotations: Mapped[int] = mapped_column(default=0)  # the prompt's annotations


class ModelPairTally(Base):
    __tablename__ = "model_pair_tally"

    prompt_set_id: Mapped[int] = mapped_column(
        ForeignKey("prompt_set.id", ondelete="CASCADE"), primary_key=True
    )
    # prompt_id % SHARDS: concurrent submits on different prompts rarely wait on one row.
    shard: Mapped[int] = mapped_column(primary_key=True)
    winner: Mapped[str] = mapped_column(primary_key=True)
    loser: Mapped[str] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class RankCoincidence(Base):
    __tablename__ = "rank_coincidence"

    prompt_set_id: Mapped[int] = mapped_column(
        ForeignKey("prompt_set.id", ondelete="CASCADE"), primary_key=True
    )
    # prompt_id % SHARDS: concurrent submits on different prompts rarely wait on one row.
    shard: Mapped[int] = mapped_column(primary_key=True)
    # Annotators who ranked the unit (a prompt's candidate); weight 1 / (coders - 1).
    coders: Mapped[int] = mapped_column(primary_key=True)
    rank_a: Mapped[int] = mapped_column(primary_key=True)
    rank_b: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class AnnotationHourTally(Base):
    """Annotations per prompt set and hour (UTC): the dashboard's hourly chart."""

    __tablename__ = "annotation_hour_tally"

    prompt_set_id: Mapped[int] = mapped_column(
        ForeignKey("prompt_set.id", ondelete="CASCADE"), primary_key=True
    )
    # prompt_id % SHARDS: concurrent submits on different prompts rarely wait on one row.
    shard: Mapped[int] = mapped_column(primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


def hour_of(when: dt.datetime) -> dt.datetime:
    return when.replace(minute=0, second=0, microsecond=0)


# Each per-set counter is split over this many rows (by prompt id): every submit adds to
# them inside its transaction, and one row per set would make all of a set's submitters
# queue on its row lock until they commit. Readers sum the shards.
SHARDS = 32


def shard_of(prompt_id: int) -> int:
    return prompt_id % SHARDS


FLAG_COLUMNS = {kind: f"flag_{kind}" for kind in FLAG_KINDS}


# --- the pure per-prompt computation --------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One annotator's finished assignment of a prompt (ranking None: skipped)."""

    annotator_id: int
    ranking: Ranking | None
    flags: Mapping[str, Sequence[str]] | None = None
    all_bad: bool = False
    seconds: float = 0.0
    created_at: dt.datetime | None = None


def plurality(counts: Mapping[int, int]) -> int | None:
    """The outcome with strictly the most votes, or None when the top is shared."""
    ranked = Counter(counts).most_common()
    if not ranked or ranked[0][1] == 0:
        return None
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None
    return ranked[0][0]


def annotator_rows(answers: Sequence[Answer]) -> dict[int, dict[str, Any]]:
    """annotator_id -> the tally columns of their row for this prompt."""
    ranks = {a.annotator_id: rank_of(a.ranking) for a in answers if a.ranking is not None}
    pair_counts: dict[tuple[int, int], Counter[int]] = {}
    for by in ranks.values():
        ids = sorted(by)
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                pair_counts.setdefault((a, b), Counter())[outcome(by, a, b)] += 1
    rows: dict[int, dict[str, Any]] = {}
    lead = min((a.annotator_id for a in answers), default=None)
    for answer in answers:
        row: dict[str, Any] = {
            "prompt_lead": int(answer.annotator_id == lead),
            "prompt_annotations": len(ranks),
            "submitted": 0,
            "skipped": int(answer.ranking is None),
            "seconds": 0.0,
            "flagged": 0,
            "all_bad": 0,
            "judged": 0,
            "comparisons": 0,
            "votes": 0,
            "tie_votes": 0,
            "peer_pairs": 0,
            "peer_same": 0,
            "agree_total": 0,
            "agree": 0,
            **{column: 0 for column in FLAG_COLUMNS.values()},
        }
        rows[answer.annotator_id] = row
        if answer.ranking is None:
            continue
        by = ranks[answer.annotator_id]
        flags = answer.flags or {}
        kinds: Counter[str] = Counter()
        for candidate_kinds in flags.values():
            kinds.update(set(candidate_kinds))
        row.update(
            submitted=1,
            seconds=float(answer.seconds),
            flagged=int(any(flags.values())),
            all_bad=int(bool(answer.all_bad)),
            judged=len(by),
            comparisons=len(derive_comparisons(answer.ranking)),
            **{column: kinds[kind] for kind, column in FLAG_COLUMNS.items()},
        )
        ids = sorted(by)
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                own = outcome(by, a, b)
                counts = pair_counts[(a, b)]
                n = sum(counts.values())
                row["votes"] += 1
                row["tie_votes"] += own == 0
                row["peer_pairs"] += n - 1
                row["peer_same"] += counts[own] - 1
                if n < 2:
                    continue
                others = counts.copy()
                others[own] -= 1
                majority = plurality(others)
                if majority is not None:
                    row["agree_total"] += 1
                    row["agree"] += own == majority
    return rows


def coincidences(answers: Iterable[Answer]) -> Counter[tuple[int, int, int]]:
    """(coders, rank a, rank b) -> ordered pairs of values two annotators gave one unit
    (a candidate of the prompt)."""
    by_unit: dict[int, list[int]] = {}
    for answer in answers:
        if answer.ranking is not None:
            for candidate, rank in rank_of(answer.ranking).items():
                by_unit.setdefault(candidate, []).append(rank)
    out: Counter[tuple[int, int, int]] = Counter()
    for values in by_unit.values():
        m = len(values)
        for i, v in enumerate(values):
            for j, w in enumerate(values):
                if i != j:
                    out[(m, v, w)] += 1
    return out


def model_wins(ranking: Ranking, models: Mapping[int, str | None]) -> Counter[tuple[str, str]]:
    """(winner model, loser model) -> comparisons of this ranking between two named,
    different models."""
    out: Counter[tuple[str, str]] = Counter()
    for pair in derive_comparisons(ranking):
        winner, loser = models.get(pair.chosen_id), models.get(pair.rejected_id)
        if winner is not None and loser is not None and winner != loser:
            out[(winner, loser)] += 1
    return out


# --- writing them ----------------------------------------------------------------------------

_TALLY = cast(Table, AnnotatorPromptTally.__table__)
_MODEL_PAIRS = cast(Table, ModelPairTally.__table__)
_COINCIDENCE = cast(Table, RankCoincidence.__table__)
_HOURS = cast(Table, AnnotationHourTally.__table__)
_PROMPT: BindParameter[int] = bindparam("prompt")

_MODELS = select(Candidate.id, Candidate.model).where(Candidate.prompt_id == _PROMPT)
_LOCK = select(Prompt.id).where(Prompt.id == _PROMPT).with_for_update()


def lock_prompt(session: Session, prompt_id: int) -> None:
    """Take the prompt's row lock (PostgreSQL), the one that orders a prompt's rewrites.
    Callers that change a prompt's tallies take it before any assignment lock, as the
    submit and lease paths do."""
    session.connection().execute(_LOCK, {"prompt": prompt_id})


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(conn: Connection, table: Table, keys: Sequence[str], *, add: bool) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, built once per dialect and table: `add`
    adds the new n to the stored one, else every column is replaced. RETURNING makes
    SQLAlchemy send the rows as one multi-row statement, not the driver's executemany."""
    key = (conn.dialect.name, table.name)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        base = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(table)
        if add:
            changes = {"n": table.c.n + base.excluded.n}
        else:
            changes = {c.name: base.excluded[c.name] for c in table.columns if c.name not in keys}
        stmt = base.on_conflict_do_update(index_elements=list(keys), set_=changes).returning(
            table.c[keys[0]]
        )
        _UPSERTS[key] = stmt
    return stmt


def _add_counts(conn: Connection, table: Table, keys: Sequence[str], rows: list[dict]) -> None:
    """Add each row's n to the stored counter (created when missing)."""
    if rows:
        rows.sort(key=lambda r: tuple(r[k] for k in keys))  # one lock order for everybody
        conn.execute(_upsert(conn, table, keys, add=True), rows).all()


def _write_prompt_rows(
    conn: Connection, prompt_id: int, set_id: int, answers: Sequence[Answer]
) -> None:
    """Every row of the prompt, replaced (rows never disappear: finished assignments stay
    finished, and only prompts without annotations are deleted)."""
    rows = annotator_rows(answers)
    if rows:
        stmt = _upsert(conn, _TALLY, ["prompt_id", "annotator_id"], add=False)
        conn.execute(
            stmt,
            [
                {"prompt_id": prompt_id, "annotator_id": a, "prompt_set_id": set_id, **values}
                for a, values in sorted(rows.items())
            ],
        ).all()


def _postgres_statement() -> Any:
    """Every write of a submit or skip in one PostgreSQL statement of fixed text (rows as
    arrays through unnest): one round trip and no per-call SQL compilation. The new
    annotation's model wins are counted by joining its comparisons to their candidates,
    as `model_wins` does (two different, named models)."""
    names = [c.name for c in _TALLY.columns if c.name not in ("prompt_id", "prompt_set_id")]
    arrays = ", ".join(f"CAST(:{n} AS {'float8' if n == 'seconds' else 'int'}[])" for n in names)
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names)
    counter = "ON CONFLICT ({keys}) DO UPDATE SET n = {table}.n + EXCLUDED.n"
    return text(
        f"""
WITH tally AS (
  INSERT INTO annotator_prompt_tally (prompt_id, prompt_set_id, {", ".join(names)})
  SELECT :prompt, :set, * FROM unnest({arrays}) ORDER BY 3
  ON CONFLICT (prompt_id, annotator_id) DO UPDATE SET {updates}
  RETURNING 1
), wins AS (
  INSERT INTO model_pair_tally (prompt_set_id, shard, winner, loser, n)
  SELECT :set, :shard, c1.model, c2.model, count(*)
  FROM unnest(CAST(:chosen AS int[]), CAST(:rejected AS int[])) AS p(chosen, rejected)
  JOIN candidate c1 ON c1.id = p.chosen JOIN candidate c2 ON c2.id = p.rejected
  WHERE c1.model <> c2.model
  GROUP BY c1.model, c2.model ORDER BY c1.model, c2.model
  {counter.format(keys="prompt_set_id, shard, winner, loser", table="model_pair_tally")}
  RETURNING 1
), coincidence AS (
  INSERT INTO rank_coincidence (prompt_set_id, shard, coders, rank_a, rank_b, n)
  SELECT :set, :shard, * FROM unnest(CAST(:coders AS int[]), CAST(:rank_a AS int[]),
                             CAST(:rank_b AS int[]), CAST(:n AS int[])) ORDER BY 3, 4, 5
  {counter.format(keys="prompt_set_id, shard, coders, rank_a, rank_b", table="rank_coincidence")}
  RETURNING 1
), hours AS (
  INSERT INTO annotation_hour_tally (prompt_set_id, shard, hour, n)
  SELECT :set, :shard, CAST(:hour AS timestamptz), 1
  WHERE CAST(:hour AS timestamptz) IS NOT NULL
  {counter.format(keys="prompt_set_id, shard, hour", table="annotation_hour_tally")}
  RETURNING 1
), measured AS (
  UPDATE prompt SET human_rankings = :rankings, human_mean_tau = CAST(:tau AS float8),
    human_top_split = :split
  WHERE id = :prompt
  RETURNING 1
)
SELECT 1"""
    )


_POSTGRES_WRITE: Any = None
_TALLY_VALUES = [
    c.name for c in _TALLY.columns if c.name not in ("prompt_id", "annotator_id", "prompt_set_id")
]


def _write_postgres(
    conn: Connection, prompt_id: int, set_id: int, answers: Sequence[Answer], new: Answer | None
) -> None:
    global _POSTGRES_WRITE
    if _POSTGRES_WRITE is None:
        _POSTGRES_WRITE = _postgres_statement()
    rows = sorted(annotator_rows(answers).items())
    params: dict[str, Any] = {"prompt": prompt_id, "set": set_id, "shard": shard_of(prompt_id)}
    params["annotator_id"] = [a for a, _ in rows]
    for name in _TALLY_VALUES:
        params[name] = [values[name] for _, values in rows]
    pairs = derive_comparisons(new.ranking) if new is not None and new.ranking else []
    params["chosen"] = [p.chosen_id for p in pairs]
    params["rejected"] = [p.rejected_id for p in pairs]
    delta: Counter[tuple[int, int, int]] = Counter()
    if new is not None:
        delta = coincidences(answers)
        delta.subtract(coincidences(a for a in answers if a is not new))
    changed = sorted((key, n) for key, n in delta.items() if n)
    params["coders"] = [m for (m, _, _), _ in changed]
    params["rank_a"] = [a for (_, a, _), _ in changed]
    params["rank_b"] = [b for (_, _, b), _ in changed]
    params["n"] = [n for _, n in changed]
    created = new.created_at if new is not None else None
    params["hour"] = hour_of(created) if created is not None else None
    params.update(measured(answers))
    conn.execute(_POSTGRES_WRITE, params)


def measured(answers: Sequence[Answer]) -> dict[str, Any]:
    """The prompt row's measure of its people's rankings (`Prompt.human_rankings`,
    `human_mean_tau`, `human_top_split`), in annotator order, as every writer stores it."""
    found = measure([a.ranking for a in answers if a.ranking is not None])
    return {"rankings": found.rankings, "tau": found.mean_tau, "split": found.top_split}


_MEASURE = (
    update(Prompt)
    .where(Prompt.id == bindparam("prompt"))
    .values(
        human_rankings=bindparam("rankings"),
        human_mean_tau=bindparam("tau"),
        human_top_split=bindparam("split"),
    )
)


def rebuild_measures(conn: Connection, prompt_set_id: int | None = None, batch: int = 2000) -> None:
    """Recompute every prompt's stored measure (all sets, or one): the migration's
    back-fill and the tests' reference. Prompts without answers get the empty measure."""
    prompts = select(Prompt.id).order_by(Prompt.id)
    if prompt_set_id is not None:
        prompts = prompts.where(Prompt.prompt_set_id == prompt_set_id)
    todo = list(conn.scalars(prompts))
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        answers = _answers_of(conn, chunk)
        rows = [{"prompt": p, **measured(answers.get(p, (0, []))[1])} for p in chunk]
        conn.execute(_MEASURE, rows)


def record_change(
    session: Session, prompt_id: int, *, new_annotator_id: int | None = None
) -> list[Answer]:
    """Bring the tallies up to date after a prompt gained an annotation (by
    `new_annotator_id`) or a skip. Call in the same transaction, with the prompt's row
    locked (`lock_prompt`, or the submit path's own lock). Returns the prompt's answers
    (the submit path decides escalation on them without reading them again)."""
    conn = session.connection()
    found = _answers_of(conn, [prompt_id], one=True).get(prompt_id)
    if found is None:
        return []
    set_id, answers = found
    new = next(
        (a for a in answers if a.annotator_id == new_annotator_id and a.ranking is not None), None
    )
    if conn.dialect.name == "postgresql":
        _write_postgres(conn, prompt_id, set_id, answers, new)
        return answers
    _write_prompt_rows(conn, prompt_id, set_id, answers)
    conn.execute(_MEASURE, {"prompt": prompt_id, **measured(answers)})
    if new is None or new.ranking is None:
        return answers
    shard = shard_of(prompt_id)
    models = {cid: model for cid, model in conn.execute(_MODELS, {"prompt": prompt_id})}
    wins = model_wins(new.ranking, models)
    _add_counts(
        conn,
        _MODEL_PAIRS,
        ["prompt_set_id", "shard", "winner", "loser"],
        [
            {"prompt_set_id": set_id, "shard": shard, "winner": w, "loser": lo, "n": n}
            for (w, lo), n in wins.items()
        ],
    )
    if new.created_at is not None:
        _add_counts(
            conn,
            _HOURS,
            ["prompt_set_id", "shard", "hour"],
            [{"prompt_set_id": set_id, "shard": shard, "hour": hour_of(new.created_at), "n": 1}],
        )
    delta = coincidences(answers)
    delta.subtract(coincidences(a for a in answers if a is not new))
    _add_counts(
        conn,
        _COINCIDENCE,
        ["prompt_set_id", "shard", "coders", "rank_a", "rank_b"],
        [
            {"prompt_set_id": set_id, "shard": shard, "coders": m, "rank_a": v, "rank_b": w, "n": n}
            for (m, v, w), n in delta.items()
            if n
        ],
    )
    return answers


def rebuild(conn: Connection, prompt_set_id: int | None = None, *, batch: int = 2000) -> None:
    """Recompute every tally from the stored annotations and skips (all sets, or one),
    replacing what is there: the back-fill, and the reference the tests compare with."""
    tally_where = [] if prompt_set_id is None else [_TALLY.c.prompt_set_id == prompt_set_id]
    for table in (_MODEL_PAIRS, _COINCIDENCE, _HOURS):
        where = [] if prompt_set_id is None else [table.c.prompt_set_id == prompt_set_id]
        conn.execute(delete(table).where(*where))
    conn.execute(delete(_TALLY).where(*tally_where))
    prompts = select(Prompt.id, Prompt.prompt_set_id).order_by(Prompt.id)
    if prompt_set_id is not None:
        prompts = prompts.where(Prompt.prompt_set_id == prompt_set_id)
    wins: Counter[tuple[int, int, str, str]] = Counter()
    pairs: Counter[tuple[int, int, int, int, int]] = Counter()
    hours: Counter[tuple[int, int, dt.datetime]] = Counter()
    todo = [(p, s) for p, s in conn.execute(prompts)]
    for start in range(0, len(todo), batch):
        chunk = dict(todo[start : start + batch])
        answers = {p: found[1] for p, found in _answers_of(conn, list(chunk)).items()}
        models = _models_of(conn, list(chunk))
        tally_rows = []
        for prompt_id, set_id in chunk.items():
            prompt_answers = answers.get(prompt_id, [])
            for a, values in annotator_rows(prompt_answers).items():
                tally_rows.append(
                    {"prompt_id": prompt_id, "annotator_id": a, "prompt_set_id": set_id, **values}
                )
            for (m, v, w), n in coincidences(prompt_answers).items():
                pairs[(set_id, shard_of(prompt_id), m, v, w)] += n
            for answer in prompt_answers:
                if answer.created_at is not None:
                    hours[(set_id, shard_of(prompt_id), hour_of(answer.created_at))] += 1
                if answer.ranking is not None:
                    for (hi, lo), n in model_wins(answer.ranking, models).items():
                        wins[(set_id, shard_of(prompt_id), hi, lo)] += n
        if tally_rows:
            conn.execute(insert(_TALLY), tally_rows)
    if wins:
        conn.execute(
            insert(_MODEL_PAIRS),
            [
                {"prompt_set_id": s, "shard": sh, "winner": w, "loser": lo, "n": n}
                for (s, sh, w, lo), n in wins.items()
            ],
        )
    if hours:
        conn.execute(
            insert(_HOURS),
            [
                {"prompt_set_id": s, "shard": sh, "hour": h, "n": n}
                for (s, sh, h), n in hours.items()
            ],
        )
    if pairs:
        conn.execute(
            insert(_COINCIDENCE),
            [
                {"prompt_set_id": s, "shard": sh, "coders": m, "rank_a": v, "rank_b": w, "n": n}
                for (s, sh, m, v, w), n in pairs.items()
            ],
        )


def _answers_query(where: Any) -> Select[Any]:
    return (
        select(
            Assignment.prompt_id,
            Prompt.prompt_set_id,
            Assignment.annotator_id,
            Assignment.status,
            Annotation.ranking,
            Annotation.flags,
            Annotation.all_bad,
            Annotation.seconds_spent,
            Annotation.created_at,
        )
        .join(Prompt, Prompt.id == Assignment.prompt_id)
        .outerjoin(Annotation, Annotation.assignment_id == Assignment.id)
        .where(where, Assignment.status.in_(("submitted", "skipped")))
        .order_by(Assignment.prompt_id, Assignment.annotator_id)
    )


_ANSWERS_OF_ONE = _answers_query(Assignment.prompt_id == _PROMPT)


def _answers_of(
    conn: Connection, prompt_ids: list[int], *, one: bool = False
) -> dict[int, tuple[int, list[Answer]]]:
    """prompt_id -> (its set, its finished assignments with their annotations). `one`:
    the statement built once, for the single prompt of a submit or skip."""
    if one:
        result = conn.execute(_ANSWERS_OF_ONE, {"prompt": prompt_ids[0]})
    else:
        result = conn.execute(_answers_query(Assignment.prompt_id.in_(prompt_ids)))
    out: dict[int, tuple[int, list[Answer]]] = {}
    for row in result:
        if row.status == "submitted" and row.ranking is not None:
            answer = Answer(
                row.annotator_id,
                row.ranking,
                row.flags,
                row.all_bad,
                row.seconds_spent,
                row.created_at,
            )
        elif row.status == "skipped":
            answer = Answer(row.annotator_id, None)
        else:
            continue
        out.setdefault(row.prompt_id, (row.prompt_set_id, []))[1].append(answer)
    return out


def _models_of(conn: Connection, prompt_ids: list[int]) -> dict[int, str | None]:
    query = select(Candidate.id, Candidate.model).where(Candidate.prompt_id.in_(prompt_ids))
    return {cid: model for cid, model in conn.execute(query)}
