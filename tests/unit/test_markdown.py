"""Untrusted text renders as safe HTML."""

from __future__ import annotations

import pytest

from app.core.markdown import render_markdown


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ('<img src=x onerror="alert(1)">', "<img"),
        ("[click](javascript:alert(1))", 'href="javascript'),
        ('<a href="javascript:alert(1)">x</a>', "<a href"),
        ("<iframe src='https://evil.example'></iframe>", "<iframe"),
    ],
)
def test_dangerous_markup_is_not_rendered(source: str, forbidden: str) -> None:
    html = str(render_markdown(source))
    assert forbidden not in html.lower()


def test_markdown_structure_survives() -> None:
    html = str(
        render_markdown(
            "# Title\n\n- one\n- two\n\n```python\nprint(1 < 2)\n```\n\n"
            "| a | b |\n|---|---|\n| 1 | 2 |"
        )
    )
    assert "<h1>Title</h1>" in html
    assert "<li>one</li>" in html
    assert "print(1 &lt; 2)" in html
    assert "<table>" in html


def test_plain_links_get_safe_rel() -> None:
    html = str(render_markdown("[docs](https://example.org)"))
    assert 'href="https://example.org"' in html and "noopener" in html
