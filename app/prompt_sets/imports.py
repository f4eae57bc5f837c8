"""Import prompts from JSONL or CSV: validate the whole file, then write it in one go.

Two streaming passes over a file object that is already on disk (an upload spooled by
Starlette, or a path from the CLI): the first parses and checks every row and collects
every problem with its line number; only when there are none does the second pass parse
the rows again and write them with bulk inserts in one transaction. Memory grows with the
number of distinct prompts (a 32-byte hash and the external id each), never with file size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import groupby
from typing import IO, Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Target
from app.core.errors import Conflict, InvalidInput
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.import_rows import (
    FORMATS,
    ImportRejected,
    ParsedRow,
    Validation,
    detect_format,
    parsed_rows,
)
from app.prompt_sets.models import Candidate, Prompt

__all__ = ["FORMATS", "BATCH_SIZE", "ImportRejected", "ImportResult", "import_prompts"]

BATCH_SIZE = 2000
# Declarative models type __table__ as a FromClause; for these it is the Table itself.
PROMPT_TABLE = cast(Table, Prompt.__table__)
CANDIDATE_TABLE = cast(Table, Candidate.__table__)
Progress = Callable[[str, int], None]  # (phase "validate" | "write", rows since last call)


@dataclass
class ImportResult:
    imported: int = 0
    skipped_duplicates: int = 0
    candidates: int = 0


# --- the import -----------------------------------------------------------------------


def _existing(session: Session, prompt_set_id: int) -> tuple[set[bytes], dict[str, bytes]]:
    """Hashes (as 32 raw bytes, to keep memory small) and external ids already in the set."""
    hashes: set[bytes] = set()
    ids: dict[str, bytes] = {}
    rows = session.execute(
        select(Prompt.content_hash, Prompt.external_id).where(Prompt.prompt_set_id == prompt_set_id)
    )
    for digest, external_id in rows:
        raw = bytes.fromhex(digest)
        hashes.add(raw)
        if external_id is not None:
            ids[external_id] = raw
    return hashes, ids


def _validate(
    session: Session, prompt_set_id: int, binary: IO[bytes], fmt: str, progress: Progress | None
) -> Validation:
    validation = Validation()
    existing_hashes, existing_ids = _existing(session, prompt_set_id)
    del existing_hashes  # duplicates of stored prompts are skipped, not errors
    file_ids: dict[str, int] = {}
    seen_rows = 0
    for row in parsed_rows(binary, fmt, validation):
        if row.external_id is not None:
            first = file_ids.get(row.external_id)
            stored = existing_ids.get(row.external_id)
            if first is not None:
                validation.add(
                    row.line,
                    "id",
                    f"duplicate id {row.external_id!r}: already used on line {first}",
                )
            elif stored is not None and stored != bytes.fromhex(row.digest):
                validation.add(
                    row.line,
                    "id",
                    f"id {row.external_id!r} already belongs to a different prompt in this set",
                )
            else:
                file_ids[row.external_id] = row.line
        if progress and validation.rows - seen_rows >= BATCH_SIZE:
            progress("validate", validation.rows - seen_rows)
            seen_rows = validation.rows
    if progress:
        progress("validate", validation.rows - seen_rows)
    return validation


def _raise_if_invalid(validation: Validation) -> None:
    if validation.error_count:
        shown = len(validation.errors)
        more = f" (the first {shown} are listed)" if shown < validation.error_count else ""
        noun = "problem" if validation.error_count == 1 else "problems"
        raise ImportRejected(
            f"The file has {validation.error_count} {noun}{more}; nothing was imported.",
            errors=validation.errors,
        )
    if validation.rows == 0:
        raise ImportRejected(
            "The file has no rows; nothing was imported.",
            errors=[{"line": 1, "field": None, "message": "no prompts in the file"}],
        )


def _prompt_values(prompt_set_id: int, row: ParsedRow) -> dict[str, Any]:
    values: dict[str, Any] = {
        "prompt_set_id": prompt_set_id,
        "external_id": row.external_id,
        "metadata": row.meta,  # the column's name (the ORM attribute is `meta`)
        "content_hash": row.digest,
        "candidates_ready": row.candidates is not None,
    }
    # Leave the unused one of text/messages out: a JSON None would be stored as 'null',
    # not SQL NULL, and break the text-xor-messages check.
    if row.text is not None:
        values["text"] = row.text
    else:
        values["messages"] = row.messages
    return values


def _write_batch(session: Session, prompt_set_id: int, batch: list[ParsedRow]) -> int:
    prompt_rows = [_prompt_values(prompt_set_id, row) for row in batch]
    with_candidates = [row for row in batch if row.candidates]
    max_id_before = (session.scalar(select(func.max(Prompt.id))) or 0) if with_candidates else 0
    # Core inserts on the table: executemany without the ORM's per-row bookkeeping. Core
    # needs the same keys in every row, so runs of text and of chat prompts go in
    # separately (in file order, so prompt ids follow the file).
    for _, run in groupby(prompt_rows, key=lambda values: "text" in values):
        session.execute(insert(PROMPT_TABLE), list(run))
    if not with_candidates:
        return 0
    # Look the new ids up rather than INSERT ... RETURNING: a plain executemany is pipelined
    # by psycopg and several times faster than RETURNING with ordered sentinels. Ids only
    # grow, so the batch's rows are those of this set above the id before the batch.
    ids = dict(
        session.execute(
            select(Prompt.content_hash, Prompt.id).where(
                Prompt.prompt_set_id == prompt_set_id, Prompt.id > max_id_before
            )
        ).all()
    )
    candidate_rows = [
        {
            "prompt_id": ids[row.digest],
            "position": i,
            "text": text,
            "model": model,
            "source": "imported",
        }
        for row in with_candidates
        for i, (text, model) in enumerate(row.candidates or [])
    ]
    session.execute(insert(CANDIDATE_TABLE), candidate_rows)
    return len(candidate_rows)


def _write(
    session: Session, prompt_set_id: int, binary: IO[bytes], fmt: str, progress: Progress | None
) -> ImportResult:
    result = ImportResult()
    seen, _ = _existing(session, prompt_set_id)
    batch: list[ParsedRow] = []
    for row in parsed_rows(binary, fmt):
        raw = bytes.fromhex(row.digest)
        if raw in seen:
            result.skipped_duplicates += 1
            continue
        seen.add(raw)
        batch.append(row)
        if len(batch) >= BATCH_SIZE:
            result.candidates += _write_batch(session, prompt_set_id, batch)
            result.imported += len(batch)
            if progress:
                progress("write", len(batch))
            batch = []
    if batch:
        result.candidates += _write_batch(session, prompt_set_id, batch)
        result.imported += len(batch)
        if progress:
            progress("write", len(batch))
    return result


def import_prompts(
    session: Session,
    *,
    prompt_set_id: int,
    file: IO[bytes],
    filename: str | None = None,
    fmt: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a JSONL or CSV file into a prompt set: everything or nothing.

    `file` must be a seekable binary file (it is read twice). Rows repeating a prompt
    already in the set, or earlier in the file, are skipped and counted. Rows that carry
    `candidates` get them stored as imported candidates and are ready to annotate.
    Raises ImportRejected (422) listing every bad row; the database is then unchanged.
    """
    prompt_set_service.load_writable_prompt_set(session, prompt_set_id)
    start = file.tell()
    if fmt is None:
        fmt = detect_format(filename, file.read(64))
        file.seek(start)
    if fmt not in FORMATS:
        raise InvalidInput(
            f"Unknown file format {fmt!r}: use jsonl or csv.",
            errors=[{"field": "format", "message": "unknown format"}],
        )
    _raise_if_invalid(_validate(session, prompt_set_id, file, fmt, progress))
    file.seek(start)
    try:
        result = _write(session, prompt_set_id, file, fmt, progress)
        audit.record(
            session,
            None,
            "prompt_set.imported",
            Target("prompt_set", prompt_set_id),
            details={
                "filename": (filename or "")[:200] or None,
                "format": fmt,
                "imported": result.imported,
                "skipped_duplicates": result.skipped_duplicates,
                "candidates": result.candidates,
            },
        )
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "Another change to this prompt set happened during the import; nothing was "
            "imported. Try again."
        ) from exc
    return result
