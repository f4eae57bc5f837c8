"""Reading and checking import rows (JSONL or CSV), one streamed row at a time.

Every check names the field and says what is wrong, so the import can list each bad row
with its line number. No database access here.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from app.core.errors import InvalidInput
from app.core.inputs import MAX_JSON_DEPTH, json_problem
from app.prompt_sets.content import CHAT_ROLES, content_hash
from app.prompt_sets.models import MAX_CANDIDATES, MIN_CANDIDATES

MAX_TEXT_CHARS = 50_000  # a prompt text, one message, or one candidate
MAX_MESSAGES = 100
MAX_ID_CHARS = 200  # Prompt.external_id column
MAX_METADATA_CHARS = 20_000  # serialised
MAX_REPORTED_ERRORS = 1000  # a wholly wrong file should not produce a megabyte of errors
FORMATS = ("jsonl", "csv")
KNOWN_FIELDS = ("prompt", "messages", "id", "metadata", "candidates")


class ImportRejected(InvalidInput):
    code = "import_rejected"


@dataclass
class ParsedRow:
    line: int
    text: str | None
    messages: list[dict[str, str]] | None
    external_id: str | None
    meta: dict[str, Any]
    candidates: list[tuple[str, str]] | None  # (text, model)
    digest: str = ""


@dataclass
class Validation:
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    rows: int = 0

    def add(self, line: int, field_name: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"line": line, "field": field_name, "message": message})


class _RowError(Exception):
    def __init__(self, field_name: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


# --- reading rows -------------------------------------------------------------------


def detect_format(filename: str | None, head: bytes) -> str:
    """By extension first (.jsonl/.ndjson/.json, .csv); otherwise JSONL if it starts with '{'."""
    name = (filename or "").lower()
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".csv"):
        return "csv"
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def _jsonl_rows(binary: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | _RowError]]:
    for number, raw in enumerate(binary, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        if not raw.strip():
            continue
        try:
            value = _loads(raw.decode("utf-8"), None)
        except UnicodeDecodeError:
            yield number, _RowError(None, "the line is not valid UTF-8")
            continue
        except _RowError as exc:
            yield number, exc
            continue
        if not isinstance(value, dict):
            yield number, _RowError(None, f"a row must be a JSON object, not {_kind(value)}")
            continue
        yield number, value


_CSV_JSON_FIELDS = ("messages", "metadata", "candidates")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def _loads(text: str, field_name: str | None) -> Any:
    """JSON text to a value, or _RowError: every way the parser can fail is the row's
    problem, never a 500 (PostgreSQL's jsonb refuses NaN and Infinity too)."""
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise _RowError(
            field_name, f"bad JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"
        ) from None
    except RecursionError:
        raise _RowError(
            field_name, f"bad JSON: nested more than {MAX_JSON_DEPTH} levels deep"
        ) from None
    except ValueError as exc:  # NaN/Infinity, or an integer too long for int()
        message = str(exc)
        if "integer string conversion" in message:
            message = f"a number has more than {sys.get_int_max_str_digits()} digits"
        raise _RowError(field_name, f"bad JSON: {message}") from None


def _csv_rows(binary: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | _RowError]]:
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    try:
        header = reader.fieldnames or []
        previous_end = reader.line_num
        for record in reader:
            line = previous_end + 1  # where the record starts (a quoted cell may span lines)
            previous_end = reader.line_num
            if None in record:
                yield line, _RowError(None, "the row has more cells than the header")
                continue
            yield line, _csv_record(line, header, record)
    except UnicodeDecodeError:
        yield reader.line_num + 1, _RowError(None, "the file is not valid UTF-8")
    except csv.Error as exc:
        yield reader.line_num, _RowError(None, f"bad CSV: {exc}")
    finally:
        text.detach()  # leave the underlying file open for the second pass


def _csv_record(
    line: int, header: Sequence[str], record: dict[str, Any]
) -> dict[str, Any] | _RowError:
    """CSV cells are strings: JSON columns are decoded, other columns become metadata."""
    row: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for name in header:
        value = record.get(name)
        if value is None or value == "":
            continue
        if name in _CSV_JSON_FIELDS:
            try:
                row[name] = _loads(value, name)
            except _RowError as exc:
                detail = exc.message.removeprefix("bad JSON: ")
                return _RowError(name, f"the {name} cell is not valid JSON: {detail}")
        elif name in ("prompt", "id"):
            row[name] = value
        else:
            extra[name] = value
    if extra:
        meta = row.get("metadata", {})
        row["metadata"] = {**extra, **meta} if isinstance(meta, dict) else meta
    return row


def iter_raw_rows(binary: IO[bytes], fmt: str) -> Iterator[tuple[int, dict[str, Any] | _RowError]]:
    return _jsonl_rows(binary) if fmt == "jsonl" else _csv_rows(binary)


# --- checking one row ---------------------------------------------------------------


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _check_text(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise _RowError(field_name, f"must be text, not {_kind(value)}")
    if not value.strip():
        raise _RowError(field_name, "is empty")
    if len(value) > MAX_TEXT_CHARS:
        raise _RowError(
            field_name, f"is too long: {len(value)} characters, the limit is {MAX_TEXT_CHARS}"
        )
    return value


def _check_messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _RowError("messages", f"must be a list of {{role, content}}, not {_kind(value)}")
    if not value:
        raise _RowError("messages", "is empty")
    if len(value) > MAX_MESSAGES:
        raise _RowError("messages", f"has {len(value)} turns, the limit is {MAX_MESSAGES}")
    out = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _RowError(where, f"must be an object with role and content, not {_kind(message)}")
        role = message.get("role")
        if role not in CHAT_ROLES:
            raise _RowError(f"{where}.role", f"{role!r} is not one of {', '.join(CHAT_ROLES)}")
        content = _check_text(message.get("content"), f"{where}.content")
        out.append({"role": role, "content": content})
    _check_role_order(out)
    return out


def _check_role_order(messages: list[dict[str, str]]) -> None:
    """Optional system turn first, then user and assistant alternating, ending with user."""
    turns = messages[1:] if messages[0]["role"] == "system" else messages
    if not turns:
        raise _RowError("messages", "bad role order: there is no user turn")
    for i, message in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if message["role"] != expected:
            index = i + (len(messages) - len(turns))
            raise _RowError(
                f"messages[{index}].role",
                f"bad role order: expected {expected} here, got {message['role']} "
                "(an optional system turn first, then user and assistant alternating)",
            )
    if turns[-1]["role"] != "user":
        raise _RowError("messages", "bad role order: the last turn must be from the user")


def _check_candidates(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        raise _RowError("candidates", f"must be a list, not {_kind(value)}")
    if not MIN_CANDIDATES <= len(value) <= MAX_CANDIDATES:
        raise _RowError(
            "candidates",
            f"has {len(value)} answers; give between {MIN_CANDIDATES} and {MAX_CANDIDATES}",
        )
    out = []
    for i, item in enumerate(value):
        where = f"candidates[{i}]"
        if isinstance(item, dict):
            text = _check_text(item.get("text"), f"{where}.text")
            model = item.get("model", "") or ""
            if not isinstance(model, str) or len(model) > 200:
                raise _RowError(f"{where}.model", "must be text of at most 200 characters")
        else:
            text, model = _check_text(item, where), ""
        out.append((text, model))
    return out


def _check_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _RowError("id", f"must be text or a whole number, not {_kind(value)}")
    value = value.strip()
    if not value:
        raise _RowError("id", "is empty")
    if len(value) > MAX_ID_CHARS:
        raise _RowError("id", f"is too long: {len(value)} characters, the limit is {MAX_ID_CHARS}")
    return value


def _check_metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _RowError("metadata", f"must be an object, not {_kind(value)}")
    size = len(json.dumps(value, ensure_ascii=False))
    if size > MAX_METADATA_CHARS:
        raise _RowError(
            "metadata", f"is too long: {size} characters as JSON, the limit is {MAX_METADATA_CHARS}"
        )
    return value


def parse_row(line: int, row: dict[str, Any]) -> ParsedRow:
    """One row to a ParsedRow, or _RowError naming the first problem."""
    # Text the database can't store (NUL, lone surrogates) or nesting past the limit,
    # anywhere in the row: named by its path, e.g. candidates.1.text.
    if found := json_problem(row):
        where, problem = found
        raise _RowError(where or None, problem)
    has_prompt, has_messages = row.get("prompt") is not None, row.get("messages") is not None
    if has_prompt and has_messages:
        raise _RowError("prompt", "give either prompt or messages, not both")
    if not has_prompt and not has_messages:
        raise _RowError("prompt", "missing field: each row needs prompt (text) or messages")
    text = _check_text(row["prompt"], "prompt") if has_prompt else None
    messages = _check_messages(row["messages"]) if has_messages else None
    # JSONL keys we don't know ride along as metadata, as extra CSV columns do (merged in
    # _csv_record); the size limit applies to the merged whole.
    extra = {k: v for k, v in row.items() if k not in KNOWN_FIELDS}
    meta = row.get("metadata")
    if extra and meta is None:
        meta = extra
    elif extra and isinstance(meta, dict):
        meta = {**extra, **meta}
    meta = _check_metadata(meta)  # (metadata that is no object is refused there)
    candidates = row.get("candidates")
    parsed = ParsedRow(
        line=line,
        text=text,
        messages=messages,
        external_id=_check_id(row.get("id")),
        meta=meta,
        candidates=_check_candidates(candidates) if candidates is not None else None,
    )
    parsed.digest = content_hash(text, messages)
    return parsed


def parsed_rows(
    binary: IO[bytes], fmt: str, validation: Validation | None = None
) -> Iterator[ParsedRow]:
    """Yield the rows that parse; record the others in `validation` (when given)."""
    for line, raw in iter_raw_rows(binary, fmt):
        if validation is not None:
            validation.rows += 1
        try:
            if isinstance(raw, _RowError):
                raise raw
            yield parse_row(line, raw)
        except _RowError as exc:
            if validation is not None:
                validation.add(line, exc.field, exc.message)
