"""JSON API for prompt sets, imports and prompts (admin only).

PATCH /prompt-sets/{id} lives in app.generation.api: with "regenerate" it also queues a job.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel

from app.accounts.deps import AdminUser
from app.core.db import SessionDep
from app.prompt_sets import imports
from app.prompt_sets import service as prompt_set_service
from app.prompt_sets.schemas import (
    GoldIn,
    ImportOut,
    PromptSetCreate,
    PromptSetOut,
)

router = APIRouter(prefix="/api/v1", tags=["prompt sets"])


class GoldOut(BaseModel):
    id: int
    is_gold: bool
    gold_ranking: list[list[int]] | None


@router.get("/prompt-sets", response_model=list[PromptSetOut])
def list_prompt_sets(session: SessionDep, user: AdminUser) -> list[PromptSetOut]:
    return [
        prompt_set_service.prompt_set_out(session, ps)
        for ps in prompt_set_service.list_prompt_sets(session)
    ]


@router.post("/prompt-sets", response_model=PromptSetOut, status_code=201)
def create_prompt_set(body: PromptSetCreate, session: SessionDep, user: AdminUser) -> PromptSetOut:
    ps = prompt_set_service.create_prompt_set(session, data=body, created_by_id=user.id)
    return prompt_set_service.prompt_set_out(session, ps)


@router.get("/prompt-sets/{prompt_set_id}", response_model=PromptSetOut)
def get_prompt_set(prompt_set_id: int, session: SessionDep, user: AdminUser) -> PromptSetOut:
    ps = prompt_set_service.load_prompt_set(session, prompt_set_id)
    return prompt_set_service.prompt_set_out(session, ps)


@router.post("/prompt-sets/{prompt_set_id}/imports", response_model=ImportOut)
def import_file(
    prompt_set_id: int,
    file: Annotated[UploadFile, File(description="JSONL or CSV")],
    session: SessionDep,
    user: AdminUser,
) -> ImportOut:
    # Starlette has already spooled the upload to a temporary file; we stream it twice.
    result = imports.import_prompts(
        session, prompt_set_id=prompt_set_id, file=file.file, filename=file.filename
    )
    return ImportOut(
        imported=result.imported,
        skipped_duplicates=result.skipped_duplicates,
        candidates=result.candidates,
    )


@router.put("/prompts/{prompt_id}/gold", response_model=GoldOut)
def set_gold(prompt_id: int, body: GoldIn, session: SessionDep, user: AdminUser) -> GoldOut:
    prompt = prompt_set_service.set_gold(session, prompt_id=prompt_id, data=body)
    return GoldOut(id=prompt.id, is_gold=prompt.is_gold, gold_ranking=prompt.gold_ranking)


@router.delete("/prompts/{prompt_id}/gold", response_model=GoldOut)
def clear_gold(prompt_id: int, session: SessionDep, user: AdminUser) -> GoldOut:
    prompt = prompt_set_service.clear_gold(session, prompt_id=prompt_id)
    return GoldOut(id=prompt.id, is_gold=prompt.is_gold, gold_ranking=prompt.gold_ranking)
