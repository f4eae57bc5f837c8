"""Judge versions and their rankings, written straight to the tables (the judge job that
normally writes them is not what these tests are about)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.judges.models import Judge, JudgeRanking
from app.prompt_sets.models import Prompt, PromptSet
from app.prompt_sets.ranking import Ranking


def make_judge(
    session: Session,
    prompt_set: PromptSet,
    *,
    name: str = "helpful",
    version: int = 1,
    mode: str = "listwise",
    is_current: bool = True,
    suggest_to_annotators: bool = False,
    **fields: Any,
) -> Judge:
    judge = Judge(
        prompt_set_id=prompt_set.id,
        name=name,
        version=version,
        mode=mode,
        is_current=is_current,
        suggest_to_annotators=suggest_to_annotators,
        rubric=fields.pop("rubric", "Rank the answers by helpfulness."),
        settings=fields.pop("settings", {"backend": "transformers", "model": "smollm2"}),
        **fields,
    )
    session.add(judge)
    session.flush()
    return judge


def make_judge_ranking(
    session: Session,
    judge: Judge,
    prompt: Prompt,
    ranking: Ranking | None,
    *,
    pairs_judged: int | None = None,
    position_flips: int | None = None,
    created_at: dt.datetime | None = None,
    raw_output: str | None = None,
) -> JudgeRanking:
    """A ranked judge ranking, or a failure (ranking None: the raw text is kept)."""
    row = JudgeRanking(
        judge_id=judge.id,
        prompt_id=prompt.id,
        status="ranked" if ranking is not None else "failed",
        ranking=ranking,
        raw_output=raw_output if raw_output is not None else ("" if ranking else "no ranking"),
        error=None if ranking is not None else "could not parse a ranking",
        pairs_judged=pairs_judged,
        position_flips=position_flips,
        seconds_spent=1.5,
        created_at=created_at or utcnow(),
    )
    session.add(row)
    session.flush()
    return row
