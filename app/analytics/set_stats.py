"""Figures about a prompt set's annotations; the math lives in app.analytics."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analytics.agreement import alpha_ordinal, pairwise_agreement_rate
from app.analytics.strength import bradley_terry, load_model_pairs, win_rates
from app.analytics.votes import load_votes
from app.annotation.models import FLAG_KINDS, Annotation, Comparison
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import Prompt
from app.prompt_sets.ranking import rank_of


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def prompt_set_stats(session: Session, *, prompt_set_id: int) -> dict[str, Any]:
    """Counts, agreement (Krippendorff's alpha over prompts with 2+ annotators, pairwise
    agreement), tie and flag rates, and per-model win rates and Bradley–Terry strengths."""
    prompt_set = prompt_set_service.load_prompt_set(session, prompt_set_id)
    rows = session.execute(
        select(
            Annotation.prompt_id,
            Annotation.annotator_id,
            Annotation.ranking,
            Annotation.flags,
            Annotation.all_bad,
        )
        .join(Prompt, Prompt.id == Annotation.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id)
    ).all()
    rank_tables: dict[int, dict[int, dict[int, int]]] = defaultdict(dict)
    flag_counts: Counter[str] = Counter()
    judged = all_bad = 0
    for prompt_id, annotator_id, ranking, flags, bad in rows:
        ranks = rank_of(ranking)
        rank_tables[prompt_id][annotator_id] = ranks
        judged += len(ranks)
        all_bad += bool(bad)
        for kinds in (flags or {}).values():
            flag_counts.update(set(kinds))
    comparisons = session.scalar(
        select(func.count(Comparison.id))
        .join(Prompt, Prompt.id == Comparison.prompt_id)
        .where(Prompt.prompt_set_id == prompt_set_id)
    )
    votes = load_votes(session, prompt_set_id)
    ties = sum(1 for v in votes if v.outcome == 0)
    pairs = load_model_pairs(session, prompt_set_id)
    wins = win_rates(pairs)
    strengths = bradley_terry(pairs)
    return {
        "prompt_set": {"id": prompt_set.id, "name": prompt_set.name},
        "annotations": len(rows),
        "comparisons": int(comparisons or 0),
        "prompts_annotated": len(rank_tables),
        "prompts_with_2plus_annotators": sum(1 for t in rank_tables.values() if len(t) >= 2),
        "annotators": len({a for t in rank_tables.values() for a in t}),
        "alpha_ordinal": alpha_ordinal(rank_tables),
        "pairwise_agreement_rate": pairwise_agreement_rate(votes),
        "tie_rate": _rate(ties, len(votes)),
        "all_bad_rate": _rate(all_bad, len(rows)),
        # Share of candidate judgements (one annotator, one candidate) flagged with each kind.
        "flag_rates": {kind: _rate(flag_counts[kind], judged) for kind in FLAG_KINDS},
        "models": [
            {
                "model": model,
                "wins": wins[model].wins if model in wins else 0,
                "losses": wins[model].losses if model in wins else 0,
                "win_rate": wins[model].rate if model in wins else None,
                "strength": s.strength,
                "ci_low": s.ci_low,
                "ci_high": s.ci_high,
            }
            for model, s in sorted(strengths.items(), key=lambda kv: -kv[1].strength)
        ],
    }
