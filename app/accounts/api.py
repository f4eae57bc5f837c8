"""JSON routes about the caller."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from app.accounts.deps import CurrentUser

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class Me(BaseModel):
    id: int
    username: str
    role: str


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(id=user.id, username=user.username, role=user.role)
