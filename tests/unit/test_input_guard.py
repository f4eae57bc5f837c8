"""The input guard's no-parse shortcut (issue 22) answers what a full parse answers."""

from __future__ import annotations

import json

import pytest

from app.core.input_guard import _json_body_problem, _may_have_json_problem
from app.core.inputs import MAX_JSON_DEPTH, json_problem


def _parsed_problem(body: bytes) -> tuple[str, str] | None:
    """The guard's answer before the shortcut: always parse, then walk the value."""
    try:
        value = json.loads(body)
    except RecursionError:
        return "", f"is nested more than {MAX_JSON_DEPTH} levels deep"
    except ValueError:
        return None
    return json_problem(value)


SUBMIT = (
    b'{"assignment_id": 7, "ranking": [[3], [1, 2], [4]], "flags": {"3": ["broken"]},'
    b' "ratings": {"1": 5}, "rationale": "B is clearer", "idempotency_key": "k1"}'
)
BODIES = {
    "a submit": SUBMIT,
    "NUL escape": b'{"rationale": "a\\u0000b"}',
    "lone surrogate escape": b'{"rationale": "\\ud800"}',
    "a paired surrogate escape": b'{"rationale": "\\ud83d\\ude00"}',
    "raw surrogate bytes": b'{"rationale": "\xed\xa0\x80"}',
    "Hangul (0xED lead byte)": '{"rationale": "한국어 텍스트"}'.encode(),
    "UTF-16 with a NUL escape": '{"rationale": "\\u0000"}'.encode("utf-16"),
    "UTF-16 fine": '{"rationale": "ok"}'.encode("utf-16-le"),
    "deeper than allowed": b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    "as deep as allowed": b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH,
    "brackets inside a string": b'{"rationale": "' + b"[" * 30 + b'"}',
    "a NUL key": b'{"a\\u0000": 1}',
    "not JSON": b"{not json",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_the_shortcut_answers_what_a_full_parse_answers(body: bytes) -> None:
    assert _json_body_problem(body) == _parsed_problem(body)


def test_a_plain_submit_is_not_parsed_by_the_guard() -> None:
    assert _may_have_json_problem(SUBMIT) is False
    assert _parsed_problem(BODIES["NUL escape"]) is not None  # the corpus has real problems
    assert _parsed_problem(BODIES["raw surrogate bytes"]) is not None
