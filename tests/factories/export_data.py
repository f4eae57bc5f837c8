"""Annotations and comparisons for export tests, stored the way the annotation service
stores them: an Assignment per annotation, comparisons from derive_comparisons()."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.db import utcnow
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.annotation import make_annotation
from tests.factories.prompt_sets import make_prompt

_keys = itertools.count(1)


def candidate_ids(session: Session, prompt: Prompt) -> list[int]:
    return list(
        session.scalars(
            select(Candidate.id)
            .where(Candidate.prompt_id == prompt.id)
            .order_by(Candidate.position)
        )
    )


@dataclass
class ExportScenario:
    """One prompt set covering what exports must handle.

    - `single`: a text prompt, 3 candidates, ranked by three annotators (the hand-worked
      consensus example: (c0,c1) split 1-1-1, c0>c2 and c1>c2 unanimous).
    - `multi`: a multi-turn chat prompt, 4 candidates; annotator 1 ties two and flags one
      "unsafe" with ratings; annotator 2 marks everything "all bad".
    - `gold`: a gold item ranked by annotator 1.
    """

    prompt_set: PromptSet
    annotators: list[User]
    single: Prompt
    multi: Prompt
    gold: Prompt
    cands: dict[str, list[int]] = field(default_factory=dict)
    early: dt.datetime = field(default_factory=utcnow)


def make_export_scenario(session: Session, **set_fields: Any) -> ExportScenario:
    n = next(_keys)
    ps = PromptSet(
        name=set_fields.pop("name", f"export-set-{n}"),
        guidelines="Rank by **helpfulness**; flag unsafe answers.",
        generation={"model": "smollm2", "temperature": 0.8, "max_new_tokens": 64},
        system_prompt=set_fields.pop("system_prompt", ""),
        **set_fields,
    )
    session.add(ps)
    session.flush()
    models = ["model-a", "model-b"]
    single = make_prompt(
        session, ps, text="What is 2+2?", candidates=3, models=models, external_id=f"ext-single-{n}"
    )
    multi = make_prompt(
        session,
        ps,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a colour."},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another one?"},
        ],
        candidates=4,
        models=models,
        external_id=f"ext-multi-{n}",
    )
    gold = make_prompt(session, ps, text="Gold question", candidates=2, models=models, is_gold=True)
    # No passwords: these annotators never log in, and hashing three passwords per scenario
    # (argon2) would dominate the export tests' time.
    annotators = [User(username=f"ranker-{n}-{i}", role="annotator") for i in range(3)]
    session.add_all(annotators)
    session.flush()
    s, m, g = (candidate_ids(session, p) for p in (single, multi, gold))
    early = utcnow() - dt.timedelta(days=10)
    a1, a2, a3 = annotators
    make_annotation(session, single, a1, [[s[0]], [s[1]], [s[2]]], created_at=early)
    make_annotation(session, single, a2, [[s[1]], [s[0]], [s[2]]], order_changed=True)
    make_annotation(session, single, a3, [[s[0], s[1]], [s[2]]], order_changed=False)
    make_annotation(
        session,
        multi,
        a1,
        [[m[2]], [m[0], m[1]], [m[3]]],
        flags={m[3]: ["unsafe"]},
        ratings={m[2]: 6, m[0]: 4, m[1]: 4, m[3]: 1},
        rationale="C is clearest.",
    )
    make_annotation(session, multi, a2, [[m[0]], [m[1]], [m[2]], [m[3]]], all_bad=True)
    make_annotation(session, gold, a1, [[g[0]], [g[1]]])
    session.commit()
    return ExportScenario(
        ps, annotators, single, multi, gold, {"single": s, "multi": m, "gold": g}, early
    )
