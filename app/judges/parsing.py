"""Turning a judge model's text into a ranking, strictly; and pair verdicts into one.

The answer is read from the last line that has the expected shape (models think out loud
first). Listwise: every label exactly once, separated by ">" (or "," or spaces), "=" for a
tie. Pairwise: "A", "B" or "tie". Anything else raises UnparseableOutput with the reason:
the worker stores that as a failed judge ranking with the raw text, and never guesses
(no "the missing labels go last", no "first label mentioned wins").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# A prefix the model may put before its answer ("Ranking: B > A").
_PREFIX = re.compile(
    r"^(?:(?:final|my|the|better|best|overall)\s+)*"
    r"(?:ranking|order|answer|verdict|winner|result|choice)(?:\s+is)?\s*[:\-]?\s*",
    re.IGNORECASE,
)
_DECORATION = "*_`'\"“”‘’ \t"
_BRACKETED = re.compile(r"\[\[?([A-Za-z])\]?\]|\(([A-Za-z])\)")
_ORDER = re.compile(r"[A-Z](?:\s*[>=,]\s*[A-Z]|\s+[A-Z])*")
_VERDICTS = {"a": "A", "b": "B", "tie": "tie", "equal": "tie", "=": "tie", "both": "tie"}
MAX_RAW_CHARS = 20_000


class UnparseableOutput(Exception):
    """The judge's answer is not a ranking; the message says why."""


def _lines(text: str) -> list[str]:
    out = []
    for line in reversed(text.splitlines()):
        line = line.strip().strip(_DECORATION)
        line = _PREFIX.sub("", line).strip(_DECORATION).rstrip(".!").strip(_DECORATION)
        line = _BRACKETED.sub(lambda m: m.group(1) or m.group(2), line)
        if line:
            out.append(line)
    return out


def parse_listwise(text: str, labels: Sequence[str]) -> list[list[str]]:
    """The labels in tie groups, best first, from the last line shaped like an order."""
    line = next((x for x in _lines(text) if _ORDER.fullmatch(x)), None)
    span = f"{labels[0]}–{labels[-1]}"
    if line is None:
        raise UnparseableOutput(
            f'no line of the answer is an order of the labels {span} (like "{" > ".join(labels)}")'
        )
    groups: list[list[str]] = []
    for separator, label in re.findall(r"([>=,\s]*)([A-Z])", line):
        if groups and "=" in separator:
            groups[-1].append(label)
        else:
            groups.append([label])
    seen: set[str] = set()
    for label in (x for group in groups for x in group):
        if label not in labels:
            raise UnparseableOutput(f"unknown label {label} (the answers are {span})")
        if label in seen:
            raise UnparseableOutput(f"label {label} appears twice in {line!r}")
        seen.add(label)
    missing = [x for x in labels if x not in seen]
    if missing:
        raise UnparseableOutput(
            f"label{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing from "
            f"{line!r}: a partial order is not a ranking"
        )
    return groups


def parse_verdict(text: str) -> str:
    """ "A", "B" or "tie" from the last line that is only a verdict."""
    for line in _lines(text):
        verdict = _VERDICTS.get(line.lower())
        if verdict is not None:
            return verdict
    raise UnparseableOutput('no line of the answer is a verdict ("A", "B" or "tie")')


@dataclass(frozen=True)
class PairVerdicts:
    """One pair judged in both presentation orders, as winners (None: a tie)."""

    first: int
    second: int
    shown_first: int | None  # `first` presented as A
    shown_second: int | None  # `second` presented as A

    @property
    def flipped(self) -> bool:
        """The verdict changed with the presentation order (position inconsistency)."""
        return self.shown_first != self.shown_second


def winner(verdict: str, a: int, b: int) -> int | None:
    return {"A": a, "B": b}.get(verdict)


def ranking_from_pairs(ids: Sequence[int], pairs: Sequence[PairVerdicts]) -> list[list[int]]:
    """Tie groups by points: a win is 1, a tie half each, per presentation. Equal points
    share a group, so a verdict that flipped with the order counts as the tie it is."""
    points = dict.fromkeys(ids, 0.0)
    for pair in pairs:
        for won in (pair.shown_first, pair.shown_second):
            if won is None:
                points[pair.first] += 0.5
                points[pair.second] += 0.5
            else:
                points[won] += 1.0
    groups: list[list[int]] = []
    last: float | None = None
    for cid in sorted(ids, key=lambda c: (-points[c], c)):
        if groups and points[cid] == last:
            groups[-1].append(cid)
        else:
            groups.append([cid])
        last = points[cid]
    return groups


def storable(text: str) -> str:
    """Model output as storable text: no NUL, no lone surrogate, bounded length."""
    text = text.replace("\x00", "\ufffd")
    text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) > MAX_RAW_CHARS:
        text = text[:MAX_RAW_CHARS] + f"\n[… {len(text) - MAX_RAW_CHARS} more characters]"
    return text
