"""JSON API for managing people and their tokens (admin only)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from app.accounts import service
from app.accounts.deps import AdminUser
from app.accounts.models import ApiToken, User
from app.admin import people
from app.core.db import SessionDep
from app.core.inputs import Bool, Id, Text

router = APIRouter(prefix="/api/v1", tags=["users"])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text = Field(min_length=1, max_length=64)
    password: Text | None = Field(default=None, max_length=1024)
    role: Text = "annotator"


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    is_active: bool
    is_expert: bool
    has_password: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    # Only when an invite was just created: the link, shown once.
    invite_url: str | None = None


class PasswordIn(BaseModel):
    password: Text = Field(max_length=1024)


class ActiveIn(BaseModel):
    is_active: Bool


class ExpertIn(BaseModel):
    is_expert: Bool


class TokenCreate(BaseModel):
    name: Text = Field(default="", max_length=100)


class TokenOut(BaseModel):
    id: int
    name: str
    token_prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class NewToken(TokenOut):
    token: str  # shown once


def user_out(user: User, invite_url: str | None = None) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        role=user.role,
        is_active=user.is_active,
        is_expert=user.is_expert,
        has_password=user.password_hash is not None,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        invite_url=invite_url,
    )


def token_out(row: ApiToken) -> TokenOut:
    return TokenOut(**{name: getattr(row, name) for name in TokenOut.model_fields})


def invite_url(request: Request, token: str) -> str:
    return service.invite_url(str(request.base_url), token)


@router.get("/users", response_model=list[UserOut])
def list_users(session: SessionDep, admin: AdminUser) -> list[UserOut]:
    return [user_out(u) for u in service.list_users(session)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(
    body: UserCreate, request: Request, session: SessionDep, admin: AdminUser
) -> UserOut:
    """With a password the user can log in at once; without one, the answer carries a
    one-time `invite_url` where they set their own."""
    if body.password is None:
        user, token = service.invite_user(session, username=body.username, role=body.role)
        return user_out(user, invite_url(request, token))
    user = service.create_user(
        session, username=body.username, password=body.password, role=body.role
    )
    return user_out(user)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: Id, session: SessionDep, admin: AdminUser) -> UserOut:
    return user_out(service.load_user(session, user_id))


@router.post("/users/{user_id}/password", response_model=UserOut)
def reset_password(user_id: Id, body: PasswordIn, session: SessionDep, admin: AdminUser) -> UserOut:
    return user_out(service.reset_password(session, user_id=user_id, password=body.password))


@router.post("/users/{user_id}/active", response_model=UserOut)
def set_active(user_id: Id, body: ActiveIn, session: SessionDep, admin: AdminUser) -> UserOut:
    people.set_active(session, user_id=user_id, active=body.is_active, acting_user_id=admin.id)
    return user_out(service.load_user(session, user_id))


@router.post("/users/{user_id}/expert", response_model=UserOut)
def set_expert(user_id: Id, body: ExpertIn, session: SessionDep, admin: AdminUser) -> UserOut:
    """Mark a user as an expert: they may settle contested prompts (adjudication queue)."""
    return user_out(service.set_expert(session, user_id=user_id, expert=body.is_expert))


@router.post("/users/{user_id}/invite", response_model=UserOut)
def renew_invite(user_id: Id, request: Request, session: SessionDep, admin: AdminUser) -> UserOut:
    token = service.renew_invite(session, user_id=user_id)
    return user_out(service.load_user(session, user_id), invite_url(request, token))


@router.get("/users/{user_id}/tokens", response_model=list[TokenOut])
def list_tokens(user_id: Id, session: SessionDep, admin: AdminUser) -> list[TokenOut]:
    service.load_user(session, user_id)
    return [token_out(t) for t in service.list_tokens(session, user_id=user_id)]


@router.post("/users/{user_id}/tokens", response_model=NewToken, status_code=201)
def create_token(user_id: Id, body: TokenCreate, session: SessionDep, admin: AdminUser) -> NewToken:
    user = service.load_user(session, user_id)
    row, token = service.create_api_token(session, user=user, name=body.name)
    return NewToken(**token_out(row).model_dump(), token=token)


@router.delete("/users/{user_id}/tokens/{token_id}", response_model=TokenOut)
def revoke_token(user_id: Id, token_id: Id, session: SessionDep, admin: AdminUser) -> TokenOut:
    return token_out(service.revoke_token(session, user_id=user_id, token_id=token_id))
