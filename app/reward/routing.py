"""Hand-out priorities of a set's prompts, written so the claim stays one index scan.

The claim (app.annotation.assignment) takes open prompts in (priority, id) order. Here
the set's `routing` decides the priorities:
- in_order: every priority 0, so id order;
- random: a stable pseudo-random number per prompt (a hash of the set and the prompt's
  content), 1..1_000_000;
- uncertain_first: from the active version's scores, priority = 1 + (1 - u) * 999_999,
  so the least certain prompt (u = 1) comes first. Prompts no version has scored keep 0:
  unknown is the most uncertain of all.

A prompt's uncertainty u in [0, 1] is the largest of three signals:
- margin: 1 - |2 sigmoid(s1 - s2) - 1| for its two best-scored candidates (1 when the
  model cannot tell them apart);
- spread: 2 Phi(-gap / sd), sd the bootstrap heads' standard deviation of that same gap
  (each head scores both candidates; 1 when the gap is 0 or lost in the heads' spread,
  towards 0 when the gap is many sd wide). The gap's sd is taken from the per-head gaps,
  never from the two per-candidate spreads: the same heads score both candidates, and
  most of a head's deviation is shared by them (issue 20: `hypot` of the two spreads
  overstated it, capped most prompts at u = 1 and tied them at the top priority). Rows
  scored before per-head scores were stored fall back to `hypot` (independence);
- disagreement: the share of the human comparisons on the prompt so far that the model
  orders the other way.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Mapping

import numpy as np
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from app.annotation.models import Comparison
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.reward.head import Scored, ScoreRow
from app.reward.models import CandidateScore, RewardModel

MAX_PRIORITY = 1_000_000
_SET_PRIORITY = (
    update(Prompt)
    .where(Prompt.id == bindparam("pid"))
    .values(priority=bindparam("p"))
    .execution_options(synchronize_session=False)
)


def random_priority(prompt_set_id: int, content_hash: str) -> int:
    digest = hashlib.sha256(f"ranklab-route:{prompt_set_id}:{content_hash}".encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % (MAX_PRIORITY - 1)


def gap_spread(best: ScoreRow, second: ScoreRow) -> float:
    """The bootstrap heads' standard deviation of the score gap best - second: from the
    per-head gaps when both rows carry them, else (older rows) `hypot` of the two spreads."""
    heads_a = best.heads if isinstance(best, Scored) else ()
    heads_b = second.heads if isinstance(second, Scored) else ()
    if heads_a and len(heads_a) == len(heads_b):
        return float(np.std(np.subtract(heads_a, heads_b)))
    return float(np.hypot(best[1], second[1]))


def uncertainty(scores: Mapping[int, ScoreRow], human: list[tuple[int, int]]) -> float | None:
    """u in [0, 1] for one prompt from {candidate: Scored or (score, spread)} and its
    human (chosen, rejected) pairs; None when fewer than two candidates are scored."""
    if len(scores) < 2:
        return None
    ranked = sorted(scores.values(), key=lambda row: row[0], reverse=True)
    gap = ranked[0][0] - ranked[1][0]
    margin_u = 1.0 - abs(2.0 / (1.0 + np.exp(-gap)) - 1.0)
    sd = gap_spread(ranked[0], ranked[1])
    if sd > 0:
        spread_u = math.erfc(gap / (sd * math.sqrt(2.0)))  # 2 Phi(-gap / sd)
    else:
        spread_u = 1.0 if gap == 0 else 0.0
    known = [(c, r) for c, r in human if c in scores and r in scores]
    disagree = sum(scores[c][0] < scores[r][0] for c, r in known) / len(known) if known else 0.0
    return float(max(margin_u, spread_u, disagree))


def _priority_from(u: float | None) -> int:
    if u is None:
        return 0
    return 1 + round((1.0 - u) * (MAX_PRIORITY - 1))


def active_version_id(session: Session, prompt_set_id: int) -> int | None:
    return session.scalar(
        select(RewardModel.id).where(
            RewardModel.prompt_set_id == prompt_set_id, RewardModel.is_active.is_(True)
        )
    )


def target_priorities(session: Session, prompt_set: PromptSet) -> dict[int, int]:
    """prompt id -> the priority its set's routing gives it now."""
    conn = session.connection()
    prompts = conn.execute(
        select(Prompt.id, Prompt.content_hash).where(Prompt.prompt_set_id == prompt_set.id)
    ).all()
    if prompt_set.routing == "random":
        return {p.id: random_priority(prompt_set.id, p.content_hash) for p in prompts}
    if prompt_set.routing != "uncertain_first":
        return dict.fromkeys((p.id for p in prompts), 0)
    version_id = active_version_id(session, prompt_set.id)
    scores: dict[int, dict[int, ScoreRow]] = defaultdict(dict)
    human: dict[int, list[tuple[int, int]]] = defaultdict(list)
    if version_id is not None:
        for r in conn.execute(
            select(
                Candidate.prompt_id,
                CandidateScore.candidate_id,
                CandidateScore.score,
                CandidateScore.spread,
                CandidateScore.head_scores,
            )
            .join(Candidate, Candidate.id == CandidateScore.candidate_id)
            .join(Prompt, Prompt.id == Candidate.prompt_id)
            .where(
                CandidateScore.reward_model_id == version_id, Prompt.prompt_set_id == prompt_set.id
            )
        ):
            scores[r.prompt_id][r.candidate_id] = Scored(
                r.score, r.spread, tuple(r.head_scores or ())
            )
        for c in conn.execute(
            select(
                Comparison.prompt_id,
                Comparison.chosen_candidate_id,
                Comparison.rejected_candidate_id,
            )
            .join(Prompt, Prompt.id == Comparison.prompt_id)
            .where(Prompt.prompt_set_id == prompt_set.id)
        ):
            human[c.prompt_id].append((c.chosen_candidate_id, c.rejected_candidate_id))
    return {
        p.id: _priority_from(uncertainty(scores.get(p.id, {}), human.get(p.id, [])))
        for p in prompts
    }


def refresh_priorities(session: Session, prompt_set: PromptSet) -> int:
    """Write the routing's priorities for the set's prompts whose priority changed.
    Adds to the caller's transaction (flushes, no commit); returns how many changed."""
    target = target_priorities(session, prompt_set)
    current = dict(
        session.connection()
        .execute(select(Prompt.id, Prompt.priority).where(Prompt.prompt_set_id == prompt_set.id))
        .all()
    )
    changed = [{"pid": pid, "p": p} for pid, p in target.items() if current.get(pid) != p]
    if changed:
        session.connection().execute(_SET_PRIORITY, changed)
    return len(changed)
