"""Every page template extends base.html and names itself; partials start with '_'."""

from __future__ import annotations

import pytest

from app.core.templating import TEMPLATES_DIR

PAGES = sorted(
    p for p in TEMPLATES_DIR.rglob("*.html") if not p.name.startswith("_") and p.name != "base.html"
)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(TEMPLATES_DIR)))
def test_page_extends_base_and_fills_title(path) -> None:
    source = path.read_text()
    assert '{% extends "base.html" %}' in source
    assert "{% block title %}" in source


@pytest.mark.parametrize("path", sorted(TEMPLATES_DIR.rglob("*.html")), ids=str)
def test_no_template_marks_text_safe(path) -> None:
    # Untrusted text goes through |markdown (sanitised) or autoescape, never |safe.
    assert "|safe" not in path.read_text().replace(" ", "")
