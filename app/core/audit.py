"""The audit log: one append-only table of who did what to which thing, and when.

`record()` is the one place that writes it. Services call it inside the transaction of
the action itself, before their commit, so an action and its audit row are written
together or not at all (a rolled-back action leaves no row). The actor defaults to the
request's signed-in user (app.core.request_context); the request id and the client
address always come from there. The time is the database's clock (DatabaseClock), not
the app host's: several app processes share one database.

Rows are never changed or removed through Ranklab: there are no update or delete routes,
and the migration adds triggers that refuse UPDATE and DELETE on both backends (how a DBA
prunes old rows: docs/security.md). The actor is a plain id plus the login name, with no
foreign key to user_account, so nothing that removes a user can cascade into the log.

The action names (a dotted `thing.verb`) are listed in ACTIONS and in docs/security.md;
a new kind of event (SSO logins, policy jobs) adds its name there and calls record().
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import BigInteger, Index, Integer, String, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.core import request_context
from app.core.db import Base, DatabaseClock, NullableJSONType
from app.core.request_context import RequestContext

# Every action the app records; record() refuses a name not listed (a typo would
# otherwise make events an auditor filters for silently go missing).
ACTIONS: tuple[str, ...] = (
    "user.login_succeeded",
    "user.login_failed",
    "user.login_locked",
    "user.created",
    "user.invited",
    "user.invite_renewed",
    "user.invite_accepted",
    "user.password_reset",
    "user.activated",
    "user.deactivated",
    "user.expert_changed",
    "user.role_changed",
    "api_token.created",
    "api_token.revoked",
    "prompt_set.created",
    "prompt_set.edited",
    "prompt_set.status_changed",
    "prompt_set.archived",
    "prompt_set.imported",
    "prompt.deleted",
    "prompt.archived",
    "prompt.gold_set",
    "prompt.gold_cleared",
    "generation_job.started",
    "generation_job.cancelled",
    "judge.created",
    "judge.version_activated",
    "judge_run.started",
    "judge_run.cancelled",
    "reward_model.training_started",
    "reward_model.cancelled",
    "reward_model.activated",
    "adjudication.settled",
    "export.downloaded",
)
_KNOWN = frozenset(ACTIONS)


class Actor(Protocol):
    """Anything with a user's id and login name (app.accounts.models.User)."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...


@dataclass(frozen=True)
class ActorRef:
    """An actor kept as plain values, for a record written after the request's session
    is gone (an export's row at the end of its stream)."""

    id: int
    username: str


@dataclass(frozen=True)
class Target:
    type: str
    id: int | str | None = None


# SQLite only auto-numbers an INTEGER PRIMARY KEY (a BIGINT one would stay NULL).
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_actor_id_id", "actor_id", "id"),
        Index("ix_audit_event_action_id", "action", "id"),
        Index("ix_audit_event_target", "target_type", "target_id", "id"),
        Index("ix_audit_event_at", "at"),
    )

    # The order of the log: ids are handed out in insert order; the API pages by id.
    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    at: Mapped[dt.datetime]
    # No foreign key on purpose (see the module docstring); NULL for the system (a
    # worker, the CLI) and for a failed login, whose attempted name is actor_name.
    actor_id: Mapped[int | None]
    actor_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    # {"before": {...}, "after": {...}} with only the fields that changed.
    changes: Mapped[dict[str, Any] | None] = mapped_column(NullableJSONType)
    # What else an auditor asks about the event: export options and row count, the
    # reason a login failed.
    details: Mapped[dict[str, Any] | None] = mapped_column(NullableJSONType)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """{"before": ..., "after": ...} with only the keys whose values differ."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {"before": {k: before.get(k) for k in keys}, "after": {k: after[k] for k in keys}}


def created(after: Mapping[str, Any]) -> dict[str, Any]:
    return {"before": None, "after": dict(after)}


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    target: Target | None = None,
    changes: Mapping[str, Any] | None = None,
    request: RequestContext | None = None,
    *,
    details: Mapping[str, Any] | None = None,
    actor_name: str | None = None,
    use_request_actor: bool = True,
) -> None:
    """Add one audit row in the session's current transaction (no commit: the caller's
    commit writes it with the action). `actor` None means the request's signed-in user,
    or nobody outside a request; `use_request_actor=False` keeps it None (an anonymous
    failed login, whose attempted name goes in `actor_name`)."""
    if action not in _KNOWN:
        raise ValueError(f"unknown audit action {action!r}; add it to app.core.audit.ACTIONS")
    context = request if request is not None else request_context.current()
    actor_id = actor.id if actor is not None else None
    name = actor.username if actor is not None else actor_name
    if actor is None and use_request_actor and context is not None:
        actor_id, name = context.actor_id, name or context.actor_name
    session.execute(
        insert(AuditEvent).values(
            at=DatabaseClock(),
            actor_id=actor_id,
            actor_name=name[:64] if name else None,
            action=action,
            target_type=target.type if target else None,
            target_id=str(target.id) if target and target.id is not None else None,
            request_id=context.request_id if context else None,
            client_address=context.client_address[:64]
            if context and context.client_address
            else None,
            changes=dict(changes) if changes is not None else None,
            details=dict(details) if details is not None else None,
        )
    )
