"""Use cases for prompt sets and their prompts. No FastAPI here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import audit
from app.core.audit import Target
from app.core.errors import Conflict, InvalidInput, NotFound
from app.prompt_sets.generators import (
    DEFAULT_GENERATOR,
    checked_generators,
    default_generators,
)
from app.prompt_sets.models import Candidate, Prompt, PromptSet
from app.prompt_sets.ranking import validate_ranking
from app.prompt_sets.schemas import (
    GenerationSettings,
    GoldIn,
    PromptSetCreate,
    PromptSetOut,
    PromptSetPatch,
)

# Changing any of these makes existing candidates stale.
GENERATION_FIELDS = ("generation", "generators", "candidates_per_prompt", "system_prompt")
STATUS_VERBS = {"active": "resumed", "paused": "paused", "archived": "archived"}


class PromptSetNameTaken(InvalidInput):
    code = "prompt_set_name_taken"


class PromptSetArchived(Conflict):
    """Archived sets are read-only until an admin sets them active or paused again."""

    code = "prompt_set_archived"


def _name_taken(name: str) -> PromptSetNameTaken:
    return PromptSetNameTaken(
        f"A prompt set named {name!r} already exists; choose another name.",
        errors=[{"field": "name", "message": f"{name!r} is already taken"}],
    )


def _check_temperatures(generation: GenerationSettings, candidates_per_prompt: int) -> None:
    t = generation.temperature
    if isinstance(t, list) and len(t) != candidates_per_prompt:
        raise InvalidInput(
            f"Give one temperature, or one per candidate: {len(t)} temperatures for "
            f"{candidates_per_prompt} candidates per prompt.",
            errors=[
                {
                    "field": "generation.temperature",
                    "message": f"{len(t)} values for {candidates_per_prompt} candidates",
                }
            ],
        )


def _check_annotators_max(k: int, k_max: int | None) -> None:
    """annotators_max (k_max) is at least k; None or k turns escalation off."""
    if k_max is not None and k_max < k:
        message = f"annotators_max {k_max} is below annotators_per_prompt (k = {k})"
        raise InvalidInput(
            f"Give annotators_max at least k ({k}), or leave it empty to turn escalation off.",
            errors=[{"field": "annotators_max", "message": message}],
        )


def _clamp_extra_seats(session: Session, prompt_set: PromptSet) -> None:
    """Keep every prompt's seat target (k + extra_seats) within a changed k or k_max."""
    k = prompt_set.annotators_per_prompt
    cap = max(0, (prompt_set.annotators_max or k) - k)
    session.execute(
        update(Prompt)
        .where(Prompt.prompt_set_id == prompt_set.id, Prompt.extra_seats > cap)
        .values(extra_seats=cap)
    )


def load_prompt_set(session: Session, prompt_set_id: int) -> PromptSet:
    prompt_set = session.get(PromptSet, prompt_set_id)
    if prompt_set is None:
        raise NotFound(f"Prompt set {prompt_set_id} does not exist.")
    return prompt_set


def check_writable(prompt_set: PromptSet) -> None:
    """The one read-only rule: an archived set takes no edits, imports, gold or jobs."""
    if prompt_set.status == "archived":
        raise PromptSetArchived(
            f"Prompt set {prompt_set.name!r} is archived and read-only: set its status to "
            "active or paused to change it."
        )


def load_writable_prompt_set(session: Session, prompt_set_id: int) -> PromptSet:
    """load_prompt_set, refusing (409) an archived set."""
    prompt_set = load_prompt_set(session, prompt_set_id)
    check_writable(prompt_set)
    return prompt_set


def get_prompt_set_by_name(session: Session, name: str) -> PromptSet | None:
    return session.scalar(select(PromptSet).where(PromptSet.name == name))


def load_prompt_set_by_name(session: Session, name: str) -> PromptSet:
    prompt_set = get_prompt_set_by_name(session, name)
    if prompt_set is None:
        raise NotFound(f"Prompt set {name!r} does not exist.")
    return prompt_set


def prompt_count(session: Session, prompt_set_id: int) -> int:
    query = select(func.count()).select_from(Prompt).where(Prompt.prompt_set_id == prompt_set_id)
    return session.scalar(query) or 0


def prompt_set_out(
    session: Session, prompt_set: PromptSet, job_id: int | None = None
) -> PromptSetOut:
    extra = ("prompts", "regeneration_job_id")
    fields = {n: getattr(prompt_set, n) for n in PromptSetOut.model_fields if n not in extra}
    fields.update(prompts=prompt_count(session, prompt_set.id), regeneration_job_id=job_id)
    return PromptSetOut(**fields)


def _set_target(prompt_set: PromptSet) -> Target:
    return Target("prompt_set", prompt_set.id)


def _prompt_target(prompt: Prompt) -> Target:
    return Target("prompt", prompt.id)


def _gold_of(prompt: Prompt) -> dict[str, Any]:
    return {"is_gold": prompt.is_gold, "gold_ranking": prompt.gold_ranking}


def list_prompt_sets(session: Session) -> list[PromptSet]:
    return list(session.scalars(select(PromptSet).order_by(PromptSet.created_at.desc())))


def create_prompt_set(
    session: Session, *, data: PromptSetCreate, created_by_id: int | None
) -> PromptSet:
    _check_temperatures(data.generation, data.candidates_per_prompt)
    _check_annotators_max(data.annotators_per_prompt, data.annotators_max)
    if get_prompt_set_by_name(session, data.name) is not None:
        raise _name_taken(data.name)
    values = data.model_dump()
    values["generation"] = data.generation.to_stored()
    values["generators"] = (
        checked_generators(data.generators)
        if data.generators is not None
        else default_generators(values["generation"])
    )
    prompt_set = PromptSet(**values, created_by_id=created_by_id)
    session.add(prompt_set)
    try:
        session.flush()
        audit.record(
            session, None, "prompt_set.created", _set_target(prompt_set), audit.created(values)
        )
        session.commit()
    except IntegrityError as exc:  # a concurrent create with the same name won
        session.rollback()
        raise _name_taken(data.name) from exc
    return prompt_set


def has_candidates(session: Session, prompt_set_id: int) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(
                    Candidate.prompt_id == Prompt.id, Prompt.prompt_set_id == prompt_set_id
                )
            )
        )
    )


@dataclass
class UpdateResult:
    prompt_set: PromptSet
    generation_changed: bool
    regeneration_job_id: int | None = None


def _changed_generation(prompt_set: PromptSet, changes: dict[str, Any]) -> bool:
    return any(
        name in changes and changes[name] != getattr(prompt_set, name) for name in GENERATION_FIELDS
    )


def apply_prompt_set_changes(
    session: Session, *, prompt_set_id: int, changes: PromptSetPatch
) -> UpdateResult:
    """Check and apply the given fields, then flush; the caller commits.

    An archived set only takes a change that also sets it active or paused again.
    `changes.regenerate` is the caller's business (app.generation.service.edit_prompt_set
    queues the regeneration job in the same commit).
    """
    prompt_set = load_prompt_set(session, prompt_set_id)
    # An explicit null means "not given": every column here is NOT NULL, so null can only
    # mean "leave it", never "clear it" (it used to reach the database as a 500).
    values = changes.model_dump(exclude_unset=True, exclude_none=True, exclude={"regenerate"})
    if "gold_pause_below" in changes.model_fields_set and changes.gold_pause_below is None:
        values["gold_pause_below"] = None  # explicit null: pausing off
    unarchiving = values.get("status") in ("active", "paused")
    if not unarchiving and set(values) - {"status"}:
        check_writable(prompt_set)
    if changes.generation is not None:
        values["generation"] = changes.generation.to_stored()
    if changes.generators is not None:
        values["generators"] = checked_generators(changes.generators)
    if "annotators_max" in changes.model_fields_set:
        values["annotators_max"] = changes.annotators_max  # null: escalation off
    seats_changed = bool({"annotators_per_prompt", "annotators_max"} & set(values))
    _check_annotators_max(
        values.get("annotators_per_prompt", prompt_set.annotators_per_prompt),
        values.get("annotators_max", prompt_set.annotators_max),
    )
    generation = GenerationSettings(**values.get("generation", prompt_set.generation))
    _check_temperatures(
        generation, values.get("candidates_per_prompt", prompt_set.candidates_per_prompt)
    )
    new_name = values.get("name")
    if new_name and new_name != prompt_set.name and get_prompt_set_by_name(session, new_name):
        raise _name_taken(new_name)
    if "generation" in values and "generators" not in values:
        _follow_generation(prompt_set, values)
    generation_changed = _changed_generation(prompt_set, values)
    before = {name: getattr(prompt_set, name) for name in values}
    for name, value in values.items():
        setattr(prompt_set, name, value)
    try:
        session.flush()
        if seats_changed:
            _clamp_extra_seats(session, prompt_set)
    except IntegrityError as exc:  # a concurrent rename to the same name won
        session.rollback()
        raise _name_taken(new_name or prompt_set.name) from exc
    changed = audit.diff(before, values)
    if changed["after"]:
        audit.record(session, None, "prompt_set.edited", _set_target(prompt_set), changed)
    return UpdateResult(prompt_set, generation_changed)


def _follow_generation(prompt_set: PromptSet, values: dict[str, Any]) -> None:
    """New `generation` settings update a set's only generator when it is "default" (a set
    that never named generators); named generators are changed through `generators`."""
    current = prompt_set.generators or []
    if not current or (len(current) == 1 and current[0].get("name") == DEFAULT_GENERATOR):
        values["generators"] = default_generators(values["generation"])


def set_status(session: Session, *, prompt_set_id: int, status: str) -> PromptSet:
    """Pause (no new leases), resume, or archive (read-only) a prompt set."""
    if status not in STATUS_VERBS:
        raise InvalidInput(
            f"Unknown status {status!r}: use active, paused or archived.",
            errors=[{"field": "status", "message": "unknown status"}],
        )
    prompt_set = load_prompt_set(session, prompt_set_id)
    if prompt_set.status != status:
        audit.record(
            session,
            None,
            "prompt_set.archived" if status == "archived" else "prompt_set.status_changed",
            _set_target(prompt_set),
            audit.diff({"status": prompt_set.status}, {"status": status}),
        )
    prompt_set.status = status
    session.commit()
    return prompt_set


# --- prompts -----------------------------------------------------------------------------


def load_prompt(session: Session, prompt_id: int, prompt_set_id: int | None = None) -> Prompt:
    prompt = session.get(Prompt, prompt_id)
    if prompt is None or (prompt_set_id is not None and prompt.prompt_set_id != prompt_set_id):
        raise NotFound(f"Prompt {prompt_id} does not exist in this prompt set.")
    return prompt


def load_writable_prompt(session: Session, prompt_id: int) -> Prompt:
    """load_prompt, refusing (409) a prompt of an archived set."""
    prompt = load_prompt(session, prompt_id)
    check_writable(load_prompt_set(session, prompt.prompt_set_id))
    return prompt


def candidate_ids(session: Session, prompt_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Candidate.id)
            .where(Candidate.prompt_id == prompt_id)
            .order_by(Candidate.position)
        )
    )


def gold_ranking_from(data: GoldIn, ids: list[int]) -> list[list[int]]:
    """A known best candidate becomes [[best], [all the others tied]]."""
    if (data.ranking is None) == (data.best_candidate_id is None):
        raise InvalidInput(
            "Give either a known ranking or a known best candidate.",
            errors=[{"field": "ranking", "message": "give ranking or best_candidate_id"}],
        )
    if data.ranking is not None:
        return validate_ranking(data.ranking, ids)
    best = data.best_candidate_id
    if best not in ids:
        raise InvalidInput(
            f"Candidate {best} is not an answer to this prompt.",
            errors=[{"field": "best_candidate_id", "message": f"{best} is not a candidate"}],
        )
    others = [cid for cid in ids if cid != best]
    return [[best], others] if others else [[best]]


def set_gold(session: Session, *, prompt_id: int, data: GoldIn) -> Prompt:
    """Mark a prompt as a gold item with its known ranking; the assignment engine mixes
    gold prompts into queues and annotators' answers are scored against it."""
    prompt = load_writable_prompt(session, prompt_id)
    ids = candidate_ids(session, prompt_id)
    if len(ids) < 2:
        raise Conflict(
            f"Prompt {prompt_id} has {len(ids)} candidates; a gold item needs at least two."
        )
    ranking = gold_ranking_from(data, ids)
    audit.record(
        session,
        None,
        "prompt.gold_set",
        _prompt_target(prompt),
        audit.diff(_gold_of(prompt), {"is_gold": True, "gold_ranking": ranking}),
        details={"prompt_set_id": prompt.prompt_set_id},
    )
    prompt.gold_ranking = ranking
    prompt.is_gold = True
    session.commit()
    return prompt


def clear_gold(session: Session, *, prompt_id: int) -> Prompt:
    prompt = load_writable_prompt(session, prompt_id)
    if prompt.is_gold:
        audit.record(
            session,
            None,
            "prompt.gold_cleared",
            _prompt_target(prompt),
            audit.diff(_gold_of(prompt), {"is_gold": False, "gold_ranking": None}),
            details={"prompt_set_id": prompt.prompt_set_id},
        )
    prompt.is_gold = False
    prompt.gold_ranking = null()  # SQL NULL; a plain None would store JSON 'null'
    session.commit()
    session.refresh(prompt)
    return prompt


def gold_prompt_count(session: Session, prompt_set_id: int) -> int:
    """Gold prompts annotators can be given: active, candidates ready."""
    query = select(func.count()).where(
        Prompt.prompt_set_id == prompt_set_id,
        Prompt.is_gold.is_(True),
        Prompt.status == "active",
        Prompt.candidates_ready.is_(True),
    )
    return session.scalar(query) or 0


def qualification_warning(session: Session, prompt_set: PromptSet) -> str | None:
    """Said to admins (and to annotators waiting) when the set's qualification round
    cannot run: fewer gold prompts than the round's items. Real items stay held."""
    needed = prompt_set.qualification_items
    if not needed:
        return None
    have = gold_prompt_count(session, prompt_set.id)
    if have >= needed:
        return None
    return (
        f"The qualification round needs {needed} gold items but this set has {have}: "
        "new annotators get no items until an admin marks more gold prompts (or lowers "
        "qualification_items)."
    )
