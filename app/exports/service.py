"""Export use cases: validate options once, then stream rows out as they are read.

The API, the research page and `ranklab export` all go through `parse_options` and
`export_chunks`. Streaming work opens its own session (the request's is closed by the time
the response body is sent) and only reads: it never writes or commits.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import User
from app.analytics import fit_cache
from app.analytics.reliability import (
    MAX_ITERATIONS,
    TOLERANCE,
    AnnotatorReliability,
    fit_reliability,
    reliability,
)
from app.analytics.reports import flagged_annotator_ids
from app.annotation.adjudication import adjudicated_rankings
from app.core.db import read_only, utcnow
from app.core.errors import InvalidInput, NotFound
from app.core.inputs import form_int
from app.exports import card as card_module
from app.exports.formats import RowBuilder, RowContext, arrow_schema
from app.exports.plan import ExportPlan
from app.exports.pseudonym import pseudonym
from app.exports.schemas import FORMATS, RENDERED_FORMATS, ExportOptions, ExportQuery
from app.exports.source import (
    PromptGroup,
    comparison_table,
    count_pair_rows,
    prompt_groups,
    verdicts_version,
)
from app.exports.tokenizers import allowed_tokenizers, choose_tokenizer, renderer
from app.exports.writers import EXTENSIONS, ChunkSink, encode, jsonl_line_chunks
from app.prompt_sets.generators import describe, generators_of
from app.prompt_sets.models import PromptSet
from app.prompt_sets.split import split_of
from app.reward.scoring import active_scores

DEDUPED_FORMATS = ("pairs", "conversational", "consensus")


class UnknownFormat(NotFound):
    code = "unknown_export_format"


class PromptSetNotFound(NotFound):
    code = "prompt_set_not_found"


class UnknownAnnotator(InvalidInput):
    code = "unknown_annotator"


def _validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        message = err.get("msg", "invalid value").removeprefix("Value error, ")
        out.append({"field": loc or None, "message": message})
    return out


def _resolve_prompt_sets(session: Session, values: Iterable[Any]) -> list[PromptSet]:
    """Prompt sets by id or by name; a 404 naming the first unknown one."""
    found = []
    for value in values:
        text = str(value).strip()
        number = form_int(text)
        if number is not None:
            ps = session.get(PromptSet, number)
        else:
            ps = session.scalar(select(PromptSet).where(PromptSet.name == text))
        if ps is None:
            raise PromptSetNotFound(f"No prompt set {text!r}: check the prompt_set option.")
        found.append(ps)
    return found


def _resolve_annotators(session: Session, wanted: list[str], secret_key: str) -> list[int]:
    """Annotators by pseudonym, as they appear in exports. Never by username: a researcher
    must not be able to link a pseudonym to a person, nor learn which usernames exist (the
    message for an unknown value is the same whatever it is)."""
    if not wanted:
        return []
    user_ids = session.scalars(select(User.id)).all()
    by_pseudonym = {pseudonym(secret_key, uid): uid for uid in user_ids}
    missing = [v for v in wanted if v not in by_pseudonym]
    if missing:
        raise UnknownAnnotator(
            f"Unknown annotator {missing[0][:100]!r}: give a pseudonym as it appears in the "
            "annotator column of an export.",
            errors=[
                {"field": "annotators", "message": f"unknown annotator {v[:100]!r}"}
                for v in missing
            ],
        )
    return sorted({by_pseudonym[v] for v in wanted})


def _invalid(exc: ValidationError) -> InvalidInput:
    errors = _validation_errors(exc)
    return InvalidInput(f"{errors[0]['field']}: {errors[0]['message']}", errors=errors)


def parse_options(
    session: Session,
    raw: Mapping[str, Any],
    *,
    secret_key: str,
    default_model: str,
    tokenizer_dir: Path | None = None,
) -> ExportPlan:
    """Validate raw options (the research form, the CLI: `format` plus ExportQuery's
    fields) into an ExportPlan, or raise a 4xx error that names the option and value."""
    fmt = str(raw.get("format") or "")
    _check_format(fmt)
    try:
        query = ExportQuery.model_validate({k: v for k, v in raw.items() if k != "format"})
    except ValidationError as exc:
        raise _invalid(exc) from None
    return plan_export(
        session,
        fmt,
        query,
        secret_key=secret_key,
        default_model=default_model,
        tokenizer_dir=tokenizer_dir,
    )


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UnknownFormat(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")


def plan_export(
    session: Session,
    fmt: str,
    query: ExportQuery,
    *,
    secret_key: str,
    default_model: str,
    tokenizer_dir: Path | None = None,
) -> ExportPlan:
    """Resolve a validated query's prompt sets and annotators into an ExportPlan."""
    _check_format(fmt)
    if not query.prompt_set:
        raise InvalidInput(
            "Choose at least one prompt set (prompt_set).",
            errors=[{"field": "prompt_set", "message": "is required"}],
        )
    prompt_sets = _resolve_prompt_sets(session, query.prompt_set)
    annotator_ids = _resolve_annotators(session, query.annotators, secret_key)
    set_models = [str((ps.generation or {}).get("model") or "") for ps in prompt_sets]
    tokenizers = allowed_tokenizers(
        set_models=set_models, default_model=default_model, tokenizer_dir=tokenizer_dir
    )
    model = choose_tokenizer(query.tokenizer or "", set_models[0] or default_model, tokenizers)
    set_ids = [ps.id for ps in prompt_sets]
    # Once per export, here: the stream itself only filters by these ids in SQL.
    excluded = flagged_annotator_ids(session, set_ids) if query.exclude_flagged_annotators else []
    try:
        options = ExportOptions.model_validate(
            query.model_dump(exclude={"prompt_set", "annotators"})
            | {
                "format": fmt,
                "prompt_set_ids": tuple(set_ids),
                "annotator_ids": tuple(annotator_ids),
                "excluded_annotator_ids": tuple(excluded),
                "tokenizer": model,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    if options.format in RENDERED_FORMATS:
        renderer(model, tokenizers[model])  # fail now (4xx), not halfway through the stream
    summaries = [
        {
            "id": ps.id,
            "name": ps.name,
            "description": ps.description,
            "guidelines": ps.guidelines,
            "generation": ps.generation or {},
            "system_prompt": ps.system_prompt,
            "generators": [describe(g) for g in generators_of(ps.generators, ps.generation)],
        }
        for ps in prompt_sets
    ]
    return ExportPlan(options, summaries, secret_key, tokenizers[model])


def iter_rows(
    session: Session, plan: ExportPlan, split: str | None = None
) -> Iterator[dict[str, Any]]:
    """The export's rows in prompt order; `split` overrides the options' split."""
    options = plan.options
    split = split or options.split
    builder = _row_builder(plan, session)
    seen: set[bytes] = set()
    dedupe = options.dedupe and options.format in DEDUPED_FORMATS
    for group in _groups(session, plan, split):
        for row in builder.rows(group):
            if dedupe:
                key = _dedupe_key(row)
                if key in seen:
                    continue
                seen.add(key)
            yield row


def _row_builder(plan: ExportPlan, session: Session | None = None) -> RowBuilder:
    options = plan.options
    render = None
    if options.format in RENDERED_FORMATS:
        render = renderer(options.tokenizer, plan.tokenizer_setting)
    scores = None
    if options.scores and session is not None:
        scores = active_scores(session, options.prompt_set_ids)
    adjudicated = {}
    if options.format == "consensus" and session is not None:
        adjudicated = adjudicated_rankings(session, options.prompt_set_ids)
    weights = None
    if reliability_weighted(options) and session is not None:
        weights = {uid: r.weight for uid, r in annotator_reliability(session, plan).items()}
    return RowBuilder(
        RowContext(
            options,
            render,
            lambda uid: pseudonym(plan.secret_key, uid),
            scores=scores,
            adjudicated=adjudicated,
            annotator_weights=weights,
        )
    )


def reliability_weighted(options: ExportOptions) -> bool:
    return options.format == "consensus" and options.consensus_method == "reliability"


RELIABILITY_CACHE = "annotator_reliability"
# Bumped when the fit changes what it returns for the same votes: old rows stop matching.
RELIABILITY_FIT = ("one-coin Dawid-Skene", 1, MAX_ITERATIONS, TOLERANCE)
# The options comparison_table reads by: the cache key of a fit (the rest shape rows only).
_VERDICT_FILTERS = (
    "prompt_set_ids",
    "origin",
    "judge_versions",
    "exclude_gold",
    "created_after",
    "created_before",
    "annotator_ids",
    "excluded_annotator_ids",
    "exclude_suggestion_shown",
    "include_all_bad",
)


def annotator_reliability(session: Session, plan: ExportPlan) -> dict[int, AnnotatorReliability]:
    """The annotators' reliabilities over every comparison the export keeps (all splits:
    a person's reliability is not a property of a split): once per plan, and from the
    database cache when a process fitted the same filters on the same data before."""
    if plan.reliability is None:
        plan.reliability = _cached_or_fitted(session, plan.options)
    return plan.reliability


def reliability_cache_key(options: ExportOptions) -> str:
    filters = {name: getattr(options, name) for name in _VERDICT_FILTERS}
    return fit_cache.digest([RELIABILITY_FIT, filters])


def _cached_or_fitted(session: Session, options: ExportOptions) -> dict[int, AnnotatorReliability]:
    key = reliability_cache_key(options)
    # Read before the votes: a vote arriving in between makes the stored fit hold more
    # than its version says, and the next reader (seeing a newer version) refits.
    version = fit_cache.digest(verdicts_version(session, options))
    cached = fit_cache.load(session, RELIABILITY_CACHE, key)
    if cached is not None and cached.data_version == version:
        return {int(uid): reliability(s, n) for uid, s, n in cached.payload["annotators"]}
    started = utcnow()
    fitted = fit_reliability(comparison_table(session, options))
    payload = {"annotators": [[uid, r.skill, r.votes] for uid, r in sorted(fitted.items())]}
    entry = fit_cache.Entry(
        RELIABILITY_CACHE, key, min(options.prompt_set_ids), version, payload, started
    )
    fit_cache.store_off_request(session, entry)
    return fitted


def _groups(session: Session, plan: ExportPlan, split: str) -> Iterator[PromptGroup]:
    options = plan.options
    with_comparisons = options.format in ("pairs", "conversational")
    for group in prompt_groups(session, options, with_comparisons=with_comparisons):
        if split != "all" and split_of(group.content_hash, options.test_fraction) != split:
            continue
        yield group


def fast_jsonl(options: ExportOptions) -> bool:
    """Whether an export's lines come from RowBuilder.pair_lines (no per-row dicts)."""
    return (
        options.file_type == "jsonl"
        and options.format in ("pairs", "conversational")
        and not options.dedupe
        and not options.scores
    )


def iter_lines(session: Session, plan: ExportPlan, split: str | None = None) -> Iterator[str]:
    """A pairs/conversational export's JSONL lines (see fast_jsonl): the same text as
    encoding iter_rows' rows, several times faster."""
    builder = _row_builder(plan)
    for group in _groups(session, plan, split or plan.options.split):
        yield from builder.pair_lines(group)


def _dedupe_key(row: dict[str, Any]) -> bytes:
    # 16-byte digests keep the seen-set small (dedupe is the one option whose memory grows
    # with the export: ~100 bytes per distinct row).
    text = json.dumps([row["prompt"], row["chosen"], row["rejected"]], ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _counted(
    rows: Iterable[dict[str, Any]], on_rows: Callable[[int], None] | None, tally: list[int]
) -> Iterator[dict[str, Any]]:
    for row in rows:
        tally[0] += 1
        if on_rows is not None:
            on_rows(1)
        yield row


def export_chunks(
    make_session: sessionmaker[Session] | Callable[[], Session],
    plan: ExportPlan,
    *,
    on_rows: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The export file (or zip bundle) as a stream of byte chunks, read with its own session."""
    if plan.options.bundle:
        yield from _bundle_chunks(make_session, plan, on_rows)
        return
    schema = arrow_schema(plan.options)
    with make_session() as session:
        read_only(session)
        if fast_jsonl(plan.options):
            yield from jsonl_line_chunks(iter_lines(session, plan), on_rows)
            return
        tally = [0]
        yield from encode(
            _counted(iter_rows(session, plan), on_rows, tally), plan.options.file_type, schema
        )


def _bundle_chunks(
    make_session: Callable[[], Session], plan: ExportPlan, on_rows: Callable[[int], None] | None
) -> Iterator[bytes]:
    """A zip with train and test files and a README.md dataset card, streamed."""
    options = plan.options
    schema = arrow_schema(options)
    sink = ChunkSink()
    counts: dict[str, int] = {}
    sampler = card_module.LengthSampler(options, plan.tokenizer_setting)
    ext = EXTENSIONS[options.file_type]
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for split in ("train", "test"):
            tally = [0]
            with (
                make_session() as session,
                zf.open(f"{split}.{ext}", "w", force_zip64=True) as entry,
            ):
                read_only(session)
                rows = sampler.watch(_counted(iter_rows(session, plan, split), on_rows, tally))
                for chunk in encode(rows, options.file_type, schema):
                    entry.write(chunk)
                    if data := sink.drain():
                        yield data
            counts[split] = tally[0]
        with make_session() as session:
            read_only(session)
            text = card_module.dataset_card(session, plan, counts, sampler.percentiles())
        zf.writestr("README.md", text)
    yield sink.drain()


# Beyond this many rows the preview says "at least" instead of reading further: options
# that filter rows in Python (agreement, flags, ties, splits, dedupe, consensus) are counted
# by reading the export only this far.
PREVIEW_COUNT_CAP = 10_000


@dataclass(frozen=True)
class RowCount:
    rows: int
    exact: bool  # False: at least `rows` (the count stopped at PREVIEW_COUNT_CAP)


def preview(
    session: Session, plan: ExportPlan, limit: int = 5, *, cap: int = PREVIEW_COUNT_CAP
) -> tuple[list[dict[str, Any]], RowCount]:
    """The first rows and the row count, for the research page, without reading the whole
    export: a SQL count where the options allow one (source.count_pair_rows), else the
    rows counted up to `cap`."""
    first: list[dict[str, Any]] = []
    counted = 0
    sql_count = count_pair_rows(session, plan.options)
    rows = iter_rows(session, plan)
    try:
        for row in rows:
            if counted < limit:
                first.append(row)
            counted += 1
            if sql_count is not None and counted >= limit:
                break
            if counted >= cap:
                break
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    if sql_count is not None:
        return first, RowCount(sql_count, True)
    return first, RowCount(counted, counted < cap)
