"""The outbox writer: an action records its event in its own transaction.

`emit` adds one `WebhookDelivery` per active endpoint subscribed to the event, in the
caller's session and transaction (it flushes, never commits): the action's commit makes
the event deliverable, its rollback discards it, so no event is lost and none is sent for
an action that did not happen. Sending is the background worker's (delivery.py); nothing
here talks to the network, so a request never waits for a receiver.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from app.core.db import utcnow
from app.core.webhooks.events import EVENTS
from app.core.webhooks.models import WebhookDelivery, WebhookEndpoint

_ACTIVE = select(WebhookEndpoint.id, WebhookEndpoint.events).where(
    WebhookEndpoint.is_active.is_(True)
)


def new_event_id() -> str:
    """The `webhook-id` of one event: unique, and the same on every retry."""
    return f"msg_{uuid.uuid4().hex}"


def event_body(event_type: str, data: dict[str, Any], event_id: str) -> str:
    """The JSON sent (the Standard Webhooks payload shape: type, timestamp, data)."""
    payload = {
        "id": event_id,
        "type": event_type,
        "timestamp": utcnow().isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)


def emit(session: Session, event_type: str, data: dict[str, Any]) -> int:
    """Queue `event_type` for every active endpoint that wants it; returns how many.
    One small read when nobody listens (the usual case on the submit path)."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown webhook event {event_type!r}")  # a bug, not bad input
    targets = [
        endpoint_id
        for endpoint_id, events in session.execute(_ACTIVE)
        if event_type in (events or ())
    ]
    if not targets:
        return 0
    event_id = new_event_id()
    body = event_body(event_type, data, event_id)
    now = utcnow()
    session.execute(
        insert(WebhookDelivery),
        [
            {
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "event_type": event_type,
                "body": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for endpoint_id in targets
        ],
    )
    return len(targets)
