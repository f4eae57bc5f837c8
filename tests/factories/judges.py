"""Judges with overridable defaults, made through the service (so settings are checked)."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.judges import service
from app.judges.models import Judge
from app.judges.schemas import JudgeIn

_counter = itertools.count(1)


def make_judge(
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
