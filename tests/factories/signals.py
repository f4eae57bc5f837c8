"""A prompt set ranked by honest annotators and one spammer, for the bias and spam signals.

Honest annotators rank every prompt's candidates in their true order (position 0 best),
so they agree with each other and their first-shown answer wins at chance; they take about
30 s per 1000 characters. The spammer sends the order shown, untouched, in a fraction of
a second: position bias, untouched order, straight-lining, too fast and (usually) low
agreement.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.analytics import speed_baselines
from app.annotation.assignment import candidate_order
from app.core.db import utcnow
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from tests.factories.accounts import make_user
from tests.factories.annotation import make_annotation
from tests.factories.prompt_sets import make_prompt_set

SECONDS_PER_1000_CHARS = 30.0
SPAMMER_SECONDS = 0.3


@dataclass
class SignalCrowd:
    prompt_set: PromptSet
    honest: list[User]
    spammer: User


def make_signal_crowd(
    session: Session, *, prompts: int = 30, honest: int = 3, name: str | None = None
) -> SignalCrowd:
    extra = {"name": name} if name else {}
    ps = make_prompt_set(
        session, prompts=prompts, candidates=4, annotators_per_prompt=honest + 1, **extra
    )
    people = [make_user(session) for _ in range(honest)]
    spammer = make_user(session)
    prompt_rows = session.scalars(
        select(Prompt).where(Prompt.prompt_set_id == ps.id).order_by(Prompt.id)
    ).all()
    rows = session.execute(
        select(Candidate.prompt_id, Candidate.id, Candidate.text)
        .where(Candidate.prompt_id.in_([p.id for p in prompt_rows]))
        .order_by(Candidate.prompt_id, Candidate.position)
    ).all()
    candidates: dict[int, list[int]] = {}
    chars: dict[int, int] = {}
    for prompt_id, cid, text in rows:
        candidates.setdefault(prompt_id, []).append(cid)
        chars[prompt_id] = chars.get(prompt_id, 0) + len(text)
    rng = random.Random(13)
    start = utcnow() - dt.timedelta(days=1)
    step = 0
    for prompt in prompt_rows:
        ids = candidates[prompt.id]
        read = chars[prompt.id] + len(prompt.text or "")
        for person in people:
            step += 1
            make_annotation(
                session,
                prompt,
                person,
                [[c] for c in ids],
                seconds=SECONDS_PER_1000_CHARS * read / 1000 * rng.lognormvariate(0, 0.2),
                created_at=start + dt.timedelta(minutes=step),
                order_changed=True,
            )
        step += 1
        make_annotation(
            session,
            prompt,
            spammer,
            [[c] for c in candidate_order(spammer.id, prompt.id, ids)],
            seconds=SPAMMER_SECONDS,
            created_at=start + dt.timedelta(minutes=step),
            order_changed=False,
        )
    # As the background refresh leaves it after a first look at the people page.
    speed_baselines.refresh(session, ps.id)
    session.commit()
    return SignalCrowd(ps, people, spammer)
