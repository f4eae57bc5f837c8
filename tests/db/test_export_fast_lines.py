"""The fast JSONL path (RowBuilder.pair_lines: per-prompt encoded pieces, no row dicts)
writes exactly the bytes of the reference path (iter_rows' dicts through the JSON encoder),
for every pairs/conversational option that changes rows or fields (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.exports import service
from app.exports.formats import json_line
from app.prompt_sets.models import Candidate
from tests.factories.annotation import make_annotation
from tests.factories.export_data import ExportScenario, candidate_ids, make_export_scenario
from tests.factories.prompt_sets import make_prompt
from tests.support.sessions import SharedSession

KEY = "k" * 48


@pytest.fixture
def scenario(session: Session) -> ExportScenario:
    scenario = make_export_scenario(session, system_prompt="Réponds «brièvement».")
    # Text that JSON must escape or keep as-is: quotes, backslashes, control characters,
    # non-ASCII and astral characters; no external id; rating differences that are not
    # whole numbers, and a negative one.
    prompt = make_prompt(
        session, scenario.prompt_set, text='Say "hi" \\ 你好 🙂\n\ttab\x01', candidates=3
    )
    ids = candidate_ids(session, prompt)
    texts = ['He said "ok"\n', "Ünïcödé ✓ 𝄞 \u2028 line", "back\\slash </script>"]
    for cid, text in zip(ids, texts, strict=True):
        session.get(Candidate, cid).text = text
    a1, a2, a3 = scenario.annotators
    make_annotation(
        session, prompt, a1, [[ids[0]], [ids[1]], [ids[2]]], ratings={ids[0]: 2.5, ids[1]: 0.1}
    )
    make_annotation(
        session, prompt, a2, [[ids[2]], [ids[0], ids[1]]], ratings={ids[2]: -1.0, ids[0]: 3.0}
    )
    make_annotation(session, prompt, a3, [[ids[1]], [ids[2]], [ids[0]]], flags={ids[2]: ["other"]})
    session.commit()
    assert session.scalar(select(Candidate.text).where(Candidate.id == ids[1])) == texts[1]
    return scenario


OPTIONS = [
    {},
    {"columns": "core"},
    {"columns": "core", "margin": "true"},
    {"ties": "both"},
    {"ties": "both", "columns": "core", "margin": "true"},
    {"include_all_bad": "true"},
    {"exclude_flags": "any"},
    {"exclude_flags": "unsafe", "ties": "both"},
    {"min_agreement": "0.5"},
    {"min_agreement": "0.7", "columns": "core"},
    {"exclude_gold": "true", "split": "train", "test_fraction": "0.5"},
    {"split": "test", "test_fraction": "0.5"},
]


@pytest.mark.parametrize("fmt", ["pairs", "conversational"])
@pytest.mark.parametrize("raw", OPTIONS)
def test_fast_lines_match_encoded_rows(session, scenario, fmt, raw):
    plan = service.parse_options(
        session,
        {"format": fmt, "prompt_set": [scenario.prompt_set.id], **raw},
        secret_key=KEY,
        default_model="smollm2",
    )
    assert service.fast_jsonl(plan.options)
    reference = "".join(json_line(row) + "\n" for row in service.iter_rows(session, plan))
    fast = b"".join(service.export_chunks(lambda: SharedSession(session), plan))
    assert fast.decode() == reference
    if not raw:
        assert reference.count("\n") >= 20
        assert "你好" in reference and "\\u2028" not in reference
