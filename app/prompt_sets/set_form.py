"""The prompt set form (create and edit): flat HTML fields to the API's nested shape and
back, and the context templates/prompt_sets/form.html renders.

Shared by the create route (app.prompt_sets.pages) and the edit route, which lives in
app.generation.pages because saving may also queue a regeneration job.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput
from app.core.templating import render
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.models import PromptSet
from app.prompt_sets.schemas import FORM_FIELDS, GenerationSettings, PromptSetCreate

CHECKBOXES = (
    "require_rationale",
    "require_ratings",
    "confirm_untouched_order",
    "escalate_on_split_top",
)
# Number fields whose empty box means "off" (None).
OPTIONAL_NUMBERS = ("gold_pause_below", "annotators_max")


def _parse_temperature(raw: str) -> Any:
    """ "0.8" -> 0.8; "0.5, 0.7, 1.0" -> a list, one per candidate; otherwise let pydantic say."""
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return raw
    return values[0] if len(values) == 1 and "," not in raw else values


def _parse_generators(raw: str, stored: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The generators textarea (a JSON list, as the API takes it); None when empty or left
    as stored, so the plain settings above keep driving a set's "default" generator."""
    if not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        message = f"generators: not valid JSON ({exc.msg} at line {exc.lineno})"
        raise InvalidInput(message, errors=[{"field": "generators", "message": message}]) from None
    return None if stored is not None and value == stored else value


def form_to_fields(
    form: dict[str, Any],
    stored_generation: dict[str, Any] | None = None,
    stored_generators: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The flat HTML form to the nested JSON shape the API takes.

    When editing, `stored_generation` keeps the settings the form does not show (seed,
    base_url, ...: set through the API), so saving the form does not reset them.
    """
    data = {
        k: v
        for k, v in form.items()
        if k not in FORM_FIELDS and k not in ("csrf_token", "generators_json")
    }
    generators = _parse_generators(str(form.get("generators_json", "")), stored_generators)
    if generators is not None:
        data["generators"] = generators
    for name in CHECKBOXES:
        data[name] = name in form
    for name in OPTIONAL_NUMBERS:
        if name in data and not str(data[name]).strip():
            data[name] = None  # an empty box turns the setting off
    # An empty threshold keeps the default.
    if str(data.get("escalate_below_tau", "x")).strip() == "":
        data.pop("escalate_below_tau")
    data.pop("regenerate", None)
    data.pop("action", None)
    generation = {k: form[k] for k in FORM_FIELDS if form.get(k, "") != ""}
    if "temperature" in generation:
        generation["temperature"] = _parse_temperature(generation["temperature"])
    hidden = {k: v for k, v in (stored_generation or {}).items() if k not in FORM_FIELDS}
    data["generation"] = hidden | generation
    return data


def form_values(prompt_set: PromptSet | None = None) -> dict[str, Any]:
    """What the form shows: defaults for a new set, current values when editing."""
    source = (
        PromptSetCreate(name="x").model_dump()
        if prompt_set is None
        else {name: getattr(prompt_set, name) for name in PromptSetCreate.model_fields}
    )
    if prompt_set is None:
        source["name"] = ""
    values = {k: v for k, v in source.items() if k != "generation"}
    # Sets stored before all settings existed fall back to the defaults, field by field.
    generation = {**GenerationSettings().model_dump(), **source["generation"]}
    t = generation.get("temperature", 0.8)
    generation["temperature"] = ", ".join(str(x) for x in t) if isinstance(t, list) else str(t)
    values.update({k: generation.get(k, "") for k in FORM_FIELDS})
    stored = (prompt_set.generators if prompt_set is not None else None) or []
    values["generators_json"] = json.dumps(stored, indent=2) if stored else ""
    values.pop("generators", None)
    return values


def form_context(
    session: Session,
    prompt_set: PromptSet | None,
    values: dict[str, Any],
    errors: list[dict[str, Any]] | None = None,
    preview: bool = False,
) -> dict:
    by_field: dict[str, str] = {}
    for err in errors or []:
        name = (err.get("field") or "").removeprefix("generation.")
        by_field.setdefault(name or "form", err["message"])
    return {
        "prompt_set": prompt_set,
        "values": values,
        "errors": by_field,
        "preview": values.get("guidelines", "") if preview else None,
        "qualification_warning": prompt_set
        and prompt_set_service.qualification_warning(session, prompt_set),
        "has_candidates": prompt_set is not None
        and prompt_set_service.has_candidates(session, prompt_set.id),
    }


def rerender_form(
    request: Request, session: Session, ps: PromptSet | None, form: dict, errors: list, **kw: Any
) -> HTMLResponse:
    """The form again with the user's input, and its errors next to the fields (422)."""
    context = form_context(session, ps, form, errors, **kw)
    return render(request, "prompt_sets/form.html", context, status_code=422 if errors else 200)
