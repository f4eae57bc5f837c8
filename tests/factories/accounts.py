"""Users and tokens with overridable defaults."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from app.accounts import service
from app.accounts.models import User

DEFAULT_PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


def make_user(
    session: Session,
    *,
    role: str = "annotator",
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    is_active: bool = True,
) -> User:
    user = service.add_user(
        session, username=username or f"{role}{next(_counter)}", password=password, role=role
    )
    user.is_active = is_active
    session.commit()
    return user


def make_token(session: Session, user: User) -> str:
    _, token = service.create_api_token(session, user=user, name="test")
    return token
