"""Untrusted text (prompts, model output, guidelines) to safe HTML.

markdown-it renders with raw HTML turned off, so `<script>` in the source comes out as
text; nh3 then drops anything outside a short allow-list as a second line of defence
(javascript: links, event handlers) in case a renderer rule ever lets something through.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "em",
    "strong",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "del",
}
# No style attributes (markdown-it writes table alignment as style=""): the CSP refuses
# inline styles, so keeping them would only fill the console with violations.
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}}


def render_markdown(text: str | None) -> Markup:
    if not text:
        return Markup("")
    html = _md.render(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)
