"""The dataset card's filters keep untrusted text (set names, guidelines, model names)
from changing the card's markdown structure."""

from __future__ import annotations

import pytest

from app.exports.card import markdown_code, markdown_quote, markdown_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export-set-1", "export-set-1"),
        ("# Heading\n| a | b |", r"\# Heading \| a \| b \|"),
        ("<script>alert(1)</script>", r"\<script\>alert(1)\</script\>"),
        ("[click](http://x) **bold** `code`", r"\[click\](http://x) \*\*bold\*\* \`code\`"),
    ],
)
def test_markdown_text_is_one_literal_line(text: str, expected: str) -> None:
    assert markdown_text(text) == expected


def test_guidelines_stay_inside_their_block_quote() -> None:
    quoted = markdown_quote("Rank by **helpfulness**.\n\n```\n## Not a heading\n<img src=x>")
    assert quoted.splitlines() == [
        "> Rank by **helpfulness**.",
        ">",
        "> ```",
        "> ## Not a heading",
        "> &lt;img src=x>",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"model": "smollm2"}', '`{"model": "smollm2"}`'),
        ("a `b` c", "``a `b` c``"),
        ("`x", "`` `x ``"),
    ],
)
def test_code_span_fence_outgrows_backticks_inside(text: str, expected: str) -> None:
    assert markdown_code(text) == expected
