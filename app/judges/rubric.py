"""The rubric template: what a judge model is asked, for one prompt and its labelled answers.

A rubric is the admin's text with two placeholders, `{prompt}` (the request, a chat
rendered as "role: content" lines) and `{candidates}` (the answers under their labels,
"[A]" ...). The answer format the parser expects is appended by us, not left to the
rubric, so editing the criteria can never break parsing. Other braces are plain text (a
rubric may show JSON); only `{word}` that is not one of ours is refused, as a typo.
"""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDERS = ("prompt", "candidates")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
LABELS = "ABCDEFGH"  # a prompt has at most 8 candidates (prompt_sets.models.MAX_CANDIDATES)

DEFAULT_RUBRIC = """You are an expert judge of answers written by AI assistants.
Judge which answers best respond to the request: correct, helpful, honest and clear.
Do not let the order of the answers or their length sway you.

Request:
{prompt}

Answers:
{candidates}"""

LISTWISE_FORMAT = (
    "Rank all {n} answers from best to worst. On the last line write only their labels "
    'separated by ">", using "=" for equally good answers, for example: {example}'
)
PAIRWISE_FORMAT = 'Which answer is better? On the last line write only "A", "B" or "tie".'


def rubric_problems(rubric: str) -> list[str]:
    """What is wrong with a rubric template (empty when it is usable)."""
    found = _PLACEHOLDER.findall(rubric)
    problems = [
        f"the rubric needs the placeholder {{{name}}}" for name in PLACEHOLDERS if name not in found
    ]
    unknown = sorted({name for name in found if name not in PLACEHOLDERS})
    if unknown:
        problems.append(
            f"unknown placeholder {', '.join('{' + u + '}' for u in unknown)}; "
            "use {prompt} and {candidates}"
        )
    return problems


def fill(rubric: str, *, prompt: str, candidates: str) -> str:
    """The rubric with its placeholders filled in one pass, so a prompt or answer that
    itself contains "{candidates}" is never expanded."""
    values = {"prompt": prompt, "candidates": candidates}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), rubric)


def prompt_as_text(text: str | None, messages: list[dict[str, Any]] | None) -> str:
    if text is not None:
        return text
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages or [])


def candidates_block(labels: list[str], texts: list[str]) -> str:
    return "\n\n".join(f"[{label}]\n{text}" for label, text in zip(labels, texts, strict=True))


def listwise_message(rubric: str, prompt: str, texts: list[str]) -> str:
    labels = list(LABELS[: len(texts)])
    body = fill(rubric, prompt=prompt, candidates=candidates_block(labels, texts))
    example = " > ".join(reversed(labels)) if len(labels) < 3 else _example(labels)
    return f"{body}\n\n{LISTWISE_FORMAT.format(n=len(texts), example=example)}"


def pairwise_message(rubric: str, prompt: str, first: str, second: str) -> str:
    body = fill(rubric, prompt=prompt, candidates=candidates_block(["A", "B"], [first, second]))
    return f"{body}\n\n{PAIRWISE_FORMAT}"


def _example(labels: list[str]) -> str:
    # Not the presentation order, so a model that copies the example is not rewarded for
    # ranking by position.
    shown = [labels[1], labels[0], *labels[2:]]
    return f"{shown[0]} > {shown[1]} = {shown[2]}" + "".join(f" > {x}" for x in shown[3:])
