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
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import User
from app.core.db import read_only
from app.core.errors import InvalidInput, NotFound
from app.exports import card as card_module
from app.exports.chat import prompt_renderer
from app.exports.formats import RowBuilder, RowContext, arrow_schema
from app.exports.plan import ExportPlan
from app.exports.pseudonym import pseudonym
from app.exports.schemas import FORMATS, RENDERED_FORMATS, ExportOptions, ExportQuery
from app.exports.source import PromptGroup, prompt_groups
from app.exports.writers import EXTENSIONS, ChunkSink, encode, jsonl_line_chunks
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
        if text.isdigit():
            ps = session.get(PromptSet, int(text))
        else:
            ps = session.scalar(select(PromptSet).where(PromptSet.name == text))
        if ps is None:
            raise PromptSetNotFound(f"No prompt set {text!r}: check the prompt_set option.")
        found.append(ps)
    return found


def _resolve_annotators(session: Session, wanted: list[str], secret_key: str) -> list[int]:
    """Annotators by pseudonym (as they appear in exports) or by username."""
    if not wanted:
        return []
    users = session.execute(select(User.id, User.username)).all()
    by_key = {u.username: u.id for u in users} | {pseudonym(secret_key, u.id): u.id for u in users}
    missing = [v for v in wanted if v not in by_key]
    if missing:
        raise UnknownAnnotator(
            f"Unknown annotator {missing[0]!r}: give a pseudonym from an export or a username.",
            errors=[
                {"field": "annotators", "message": f"unknown annotator {v!r}"} for v in missing
            ],
        )
    return sorted({by_key[v] for v in wanted})


def _invalid(exc: ValidationError) -> InvalidInput:
    errors = _validation_errors(exc)
    return InvalidInput(f"{errors[0]['field']}: {errors[0]['message']}", errors=errors)


def parse_options(
    session: Session, raw: Mapping[str, Any], *, secret_key: str, default_model: str
) -> ExportPlan:
    """Validate raw options (the research form, the CLI: `format` plus ExportQuery's
    fields) into an ExportPlan, or raise a 4xx error that names the option and value."""
    fmt = str(raw.get("format") or "")
    _check_format(fmt)
    try:
        query = ExportQuery.model_validate({k: v for k, v in raw.items() if k != "format"})
    except ValidationError as exc:
        raise _invalid(exc) from None
    return plan_export(session, fmt, query, secret_key=secret_key, default_model=default_model)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UnknownFormat(f"Unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")


def plan_export(
    session: Session, fmt: str, query: ExportQuery, *, secret_key: str, default_model: str
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
    model = query.tokenizer or (prompt_sets[0].generation or {}).get("model") or default_model
    try:
        options = ExportOptions.model_validate(
            query.model_dump(exclude={"prompt_set", "annotators"})
            | {
                "format": fmt,
                "prompt_set_ids": tuple(ps.id for ps in prompt_sets),
                "annotator_ids": tuple(annotator_ids),
                "tokenizer": model,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    if options.format in RENDERED_FORMATS:
        prompt_renderer(options.tokenizer)  # fail now (4xx), not halfway through the stream
    summaries = [
        {
            "id": ps.id,
            "name": ps.name,
            "description": ps.description,
            "guidelines": ps.guidelines,
            "generation": ps.generation or {},
            "system_prompt": ps.system_prompt,
        }
        for ps in prompt_sets
    ]
    return ExportPlan(options, summaries, secret_key)


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
    render = prompt_renderer(options.tokenizer) if options.format in RENDERED_FORMATS else None
    scores = None
    if options.scores and session is not None:
        scores = active_scores(session, options.prompt_set_ids)
    return RowBuilder(
        RowContext(options, render, lambda uid: pseudonym(plan.secret_key, uid), scores)
    )


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
    sampler = card_module.LengthSampler(options)
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


def preview(session: Session, plan: ExportPlan, limit: int = 5) -> tuple[list[dict[str, Any]], int]:
    """The first rows and the total row count, for the research page."""
    first: list[dict[str, Any]] = []
    total = 0
    for row in iter_rows(session, plan):
        if total < limit:
            first.append(row)
        total += 1
    return first, total
