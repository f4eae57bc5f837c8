"""Webhook endpoints and their outbox: one delivery row per (event, endpoint)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, JSONType, utcnow

DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(Base):
    """A receiver an admin registered. The secret is needed to sign every delivery, so it
    is stored as given (no encryption helper exists in the app; see docs/security.md),
    shown once at creation and never again."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (CheckConstraint("length(url) BETWEEN 1 AND 2000", name="url_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    # Event names (app.core.webhooks.events.EVENTS) this endpoint receives.
    events: Mapped[list[str]] = mapped_column(JSONType)
    secret: Mapped[str] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Set when a delivery ran out of attempts; cleared by the next delivery that succeeds.
    failing_since: Mapped[dt.datetime | None]


class WebhookDelivery(Base):
    """One event for one endpoint, written in the transaction of the action that caused it
    (so a rolled-back action leaves none) and sent by the background worker. `event_id`
    is the `webhook-id` header: the same on every retry, so receivers dedupe on it.
    `body` is the exact JSON text signed and sent each time."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        CheckConstraint(f"status IN {DELIVERY_STATUSES!r}", name="status_known"),
        # The worker's claim: due pending rows, oldest first.
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    # When the next try is due (also moved past a claimed row's send, as its lease);
    # None once delivered or given up.
    next_attempt_at: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None]

    def payload(self) -> dict[str, Any]:
        import json

        return json.loads(self.body)
