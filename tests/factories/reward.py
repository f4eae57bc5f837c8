"""A prompt set whose rankings carry a clear, learnable signal, and reward versions.

Every prompt gets two on-topic answers and two off-topic ones of similar length (so the
"longer answer wins" baseline stays near chance); annotators rank the on-topic answers
first. A frozen language model's embedding separates the two kinds easily, so a fast
reward model must beat chance on held-out prompts.
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.core.db import utcnow
from app.prompt_sets.content import content_hash
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.reward.models import RewardModel
from app.reward.routing import refresh_priorities
from app.reward.scoring import write_scores
from tests.factories.accounts import make_user
from tests.factories.annotation import make_annotation

_counter = itertools.count(1)
TOPICS = [
    ("water", "Water boils at 100 degrees Celsius at sea level."),
    ("the moon", "The Moon orbits the Earth about once every 27 days."),
    ("bread", "Bread is made from flour, water, yeast and a little salt."),
    ("bees", "Bees collect nectar from flowers and turn it into honey."),
    ("rain", "Rain forms when water vapour condenses into droplets in clouds."),
    ("trains", "Trains run on rails and carry people and goods over land."),
    ("volcanoes", "Volcanoes erupt when molten rock rises through the crust."),
    ("chess", "Chess is played on a board of sixty-four squares by two players."),
]
OFF_TOPIC = [
    "purple elephant spoon guitar yesterday never window cloud seven",
    "I refuse. lorem ipsum dolor banana keyboard sideways tomorrow",
]


def make_ranked_set(
    session: Session,
    *,
    prompts: int = 24,
    annotators: int = 2,
    users: list[User] | None = None,
    **fields: Any,
) -> PromptSet:
    """A set of `prompts` prompts with 4 candidates each, every prompt ranked by
    `annotators` people: on-topic answers above off-topic ones."""
    n = next(_counter)
    ps = PromptSet(name=fields.pop("name", f"ranked-{n}"), candidates_per_prompt=4, **fields)
    session.add(ps)
    session.flush()
    people = users or [make_user(session) for _ in range(annotators)]
    for i in range(prompts):
        topic, fact = TOPICS[i % len(TOPICS)]
        text = f"Question {i}: tell me one fact about {topic}."
        prompt = Prompt(
            prompt_set_id=ps.id,
            text=text,
            content_hash=content_hash(text, None),
            candidates_ready=True,
        )
        session.add(prompt)
        session.flush()
        answers = [fact, f"Here is a fact: {fact}", OFF_TOPIC[0], OFF_TOPIC[1] + f" {i}"]
        cands = []
        for pos, answer in enumerate(answers):
            cand = Candidate(prompt_id=prompt.id, position=pos, text=answer, model="m")
            session.add(cand)
            cands.append(cand)
        session.flush()
        good, bad = [c.id for c in cands[:2]], [c.id for c in cands[2:]]
        for k, person in enumerate(people[:annotators]):
            # Annotators disagree on the order within each kind, never across kinds.
            ranking = [[good[k % 2]], [good[1 - k % 2]], [bad[k % 2]], [bad[1 - k % 2]]]
            make_annotation(session, prompt, person, ranking)
    session.commit()
    return ps


def make_version(
    session: Session,
    prompt_set: PromptSet,
    *,
    status: str = "done",
    active: bool = False,
    **fields: Any,
) -> RewardModel:
    """A version row as the worker leaves it (no artifact unless given)."""
    version = RewardModel(
        prompt_set_id=prompt_set.id,
        kind=fields.pop("kind", "fast"),
        backbone=fields.pop("backbone", "smollm2"),
        options=fields.pop("options", {"kind": "fast", "backbone": "smollm2"}),
        status=status,
        is_active=active,
        finished_at=utcnow() if status == "done" else None,
        **fields,
    )
    session.add(version)
    session.commit()
    return version


def make_scored_version(
    session: Session, prompt_set: PromptSet, scores: dict[int, tuple[float, float]], **fields: Any
) -> RewardModel:
    """An active version with the given candidate scores, as activation leaves it."""
    version = make_version(session, prompt_set, active=True, **fields)
    write_scores(session, version.id, scores, replace=True)
    session.flush()
    refresh_priorities(session, prompt_set)
    session.commit()
    return version
