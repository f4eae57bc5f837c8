"""Judges: `make_judge`/`make_judge_ranking` write rows straight to the tables (for tests
that read judge rankings, not the job that writes them); `create_judge` goes through the
service, so settings are checked."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import utcnow
from app.judges import service
from app.judges.models import Judge, JudgeRanking
from app.judges.schemas import JudgeIn
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


_counter = itertools.count(1)


def create_judge(
    session: Session, prompt_set_id: int, app_settings: Settings, **fields: Any
) -> Judge:
    """A committed judge (version 1); by default listwise on the openai backend."""
    fields.setdefault("name", f"judge-{next(_counter)}")
    fields.setdefault("settings", {"backend": "openai", "max_new_tokens": 16})
    return service.create_judge(
        session,
        prompt_set_id=prompt_set_id,
        data=JudgeIn.model_validate(fields),
        created_by_id=None,
        app_settings=app_settings,
    )
