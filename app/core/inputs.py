"""One input discipline for every route: bounded integers and storable text.

PostgreSQL's `integer` stops at 2**31-1 and its `text`/`jsonb` refuse NUL characters; a
value past either used to reach the database and come back as a 500. These types refuse it
at the edge with a 422 naming the field, before any query runs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import annotated_types as at
from pydantic import AfterValidator, AllowInfNan, BeforeValidator, Strict

MAX_DB_INT = 2**31 - 1
MAX_JSON_DEPTH = 20

# An id in a path, query or body: a positive 32-bit integer (PostgreSQL `integer`).
Id = Annotated[int, at.Ge(1), at.Le(MAX_DB_INT)]
# A page number, offset or count that ends up in a query.
Count = Annotated[int, at.Ge(0), at.Le(MAX_DB_INT)]


def _not_a_bool(value: Any) -> Any:
    # JSON true/false are ints to Python; `"temperature": false` must not become 0.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


# Strict where coercion hides mistakes: only true/false is a boolean (not 1, "yes", "off"),
# and true/false is no number. Numbers still parse from form text ("0.8").
Bool = Annotated[bool, Strict()]
Number = Annotated[float, BeforeValidator(_not_a_bool), AllowInfNan(False)]
WholeNumber = Annotated[int, BeforeValidator(_not_a_bool)]

# Form text that is a whole number: ASCII digits only (str.isdigit() also passes '²',
# which int() refuses), and short enough for a 32-bit column.
_FORM_INT = re.compile(r"-?[0-9]{1,10}")


def form_int(text: str | None) -> int | None:
    """A form field's whole number, or None when blank or not one (the caller decides
    whether that is an error); never raises, whatever the text."""
    value = (text or "").strip()
    if not _FORM_INT.fullmatch(value):
        return None
    number = int(value)
    return number if -MAX_DB_INT <= number <= MAX_DB_INT else None


def form_number(text: str | None) -> float | None:
    """A form field's finite decimal number (ASCII), or None."""
    value = (text or "").strip()
    if not re.fullmatch(r"-?[0-9]{1,12}(\.[0-9]{0,12})?", value):
        return None
    return float(value)


def storable_text_problem(text: str) -> str | None:
    """Why a string can't be stored as text (None when it can)."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which can't be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (such as \\ud800), which is not valid Unicode"
    return None


def _storable(text: str) -> str:
    problem = storable_text_problem(text)
    if problem:
        raise ValueError(problem)
    return text


# Free text from a user: refuses NUL and lone surrogates with a 422 naming the field.
Text = Annotated[str, AfterValidator(_storable)]


def json_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """(where, why) a JSON value can't be stored (too deep, or bad text), else None.
    `where` is a dotted path such as `ranking.0` (empty for the whole value)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:  # iterative: a 100,000-deep value must not blow Python's stack
        item, path, depth = stack.pop()
        if isinstance(item, dict | list) and depth > max_depth:
            return path, f"is nested more than {max_depth} levels deep"
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if problem := storable_text_problem(str(key)):
                    return path, f"has a key that {problem}"
                stack.append((child, child_path, depth + 1))
        elif isinstance(item, list):
            stack.extend(
                (child, f"{path}.{i}" if path else str(i), depth + 1)
                for i, child in enumerate(item)
            )
        elif isinstance(item, str) and (problem := storable_text_problem(item)):
            return path, problem
    return None


def _storable_json(value: Any) -> Any:
    found = json_problem(value)
    if found:
        where, problem = found
        raise ValueError(f"{where}: {problem}" if where else problem)
    return value


# A JSON object a user sends (metadata, flags, ratings): bounded depth, storable text.
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
