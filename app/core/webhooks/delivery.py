"""Sending the outbox: the background worker's webhook step (`ranklab worker` and the
in-process worker of `ranklab serve` both run `WebhookSender.run_once` in their loop).

Claim, then send, then record, each claim and record a short transaction of its own; no
transaction stays open across the network.
- Claim: due pending rows (`next_attempt_at` <= the database's now) of active endpoints,
  oldest first. PostgreSQL: `FOR UPDATE SKIP LOCKED`, so any number of workers share the
  outbox without taking the same row. SQLite: every transaction starts with BEGIN IMMEDIATE
  (app.core.db), which makes the claim a single-writer critical section. The claim counts
  the attempt and moves `next_attempt_at` past the send (a lease): a worker that dies
  mid-send leaves the row to be claimed again once that passes.
- Send: the stored body, signed the Standard Webhooks way (`webhook-id` = the event's id,
  the same on every retry; `webhook-timestamp` = now, as the receiver checks it against
  its clock; `webhook-signature` = v1 HMAC-SHA256), with a short httpx timeout and no
  redirects followed. Claimed rows are sent concurrently.
- Record: 2xx delivers. Anything else waits `backoff` (doubling from
  webhook_backoff_seconds, capped) until webhook_max_attempts, then the row is failed and
  its endpoint marked failing; a later success clears the mark.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from app.core.config import Settings
from app.core.db import db_now, make_sessionmaker
from app.core.webhooks.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger("ranklab.webhooks")
# Seconds a claimed row stays out of others' claims beyond the send's own timeout.
LEASE_MARGIN_SECONDS = 30.0
MAX_SENDERS = 8  # concurrent sends per round


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint_id: int
    attempt: int  # this try's number, 1 for the first
    event_id: str
    url: str
    secret: str
    body: str


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait after failed try number `attempt` (1, 2, ...): base, 2 base, ..."""
    return min(cap, base * 2 ** (attempt - 1))


def claim_due(session: Session, *, limit: int, lease_seconds: float) -> list[Claimed]:
    """Claim up to `limit` due deliveries in the caller's transaction (the caller commits:
    until then, on PostgreSQL, the rows stay locked and other claimers skip them)."""
    now = db_now(session)
    query = (
        select(WebhookDelivery, WebhookEndpoint.url, WebhookEndpoint.secret)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.is_active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    claimed = []
    lease_until = now + dt.timedelta(seconds=lease_seconds)
    for row, url, secret in session.execute(query):
        row.attempts += 1
        row.next_attempt_at = lease_until
        claimed.append(
            Claimed(row.id, row.endpoint_id, row.attempts, row.event_id, url, secret, row.body)
        )
    session.flush()
    return claimed


def signed_headers(claimed: Claimed, now: dt.datetime) -> dict[str, str]:
    signature = Webhook(claimed.secret).sign(claimed.event_id, now, claimed.body)
    return {
        "content-type": "application/json",
        "user-agent": "Ranklab-Webhooks",
        "webhook-id": claimed.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def send(client: httpx.Client, claimed: Claimed) -> Outcome:
    """One try; never raises (a network error is an outcome like a 500)."""
    now = dt.datetime.now(dt.UTC)
    try:
        response = client.post(
            claimed.url, content=claimed.body.encode(), headers=signed_headers(claimed, now)
        )
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= response.status_code < 300:
        return Outcome(response.status_code, None)
    return Outcome(response.status_code, f"HTTP {response.status_code}: {response.text[:200]}")


def record(session: Session, claimed: Claimed, outcome: Outcome, *, app_settings: Settings) -> None:
    """Store one try's outcome, if the row is still this claim's (same attempt, pending):
    a claim whose lease ran out and was taken over by another worker records nothing."""
    now = db_now(session)
    mine = (
        WebhookDelivery.id == claimed.delivery_id,
        WebhookDelivery.attempts == claimed.attempt,
        WebhookDelivery.status == "pending",
    )
    values: dict[str, object] = {"last_status_code": outcome.status_code}
    endpoint = update(WebhookEndpoint).where(WebhookEndpoint.id == claimed.endpoint_id)
    if outcome.ok:
        values.update(status="delivered", delivered_at=now, next_attempt_at=None, last_error=None)
        done = session.execute(update(WebhookDelivery).where(*mine).values(**values))
        if done.rowcount:  # type: ignore[attr-defined]
            session.execute(endpoint.values(failing_since=None))
        return
    values["last_error"] = outcome.error
    if claimed.attempt >= app_settings.webhook_max_attempts:
        values.update(status="failed", next_attempt_at=None)
        done = session.execute(update(WebhookDelivery).where(*mine).values(**values))
        if done.rowcount:  # type: ignore[attr-defined]
            session.execute(
                endpoint.where(WebhookEndpoint.failing_since.is_(None)).values(failing_since=now)
            )
        return
    wait = backoff(
        claimed.attempt,
        base=app_settings.webhook_backoff_seconds,
        cap=app_settings.webhook_backoff_max_seconds,
    )
    values["next_attempt_at"] = now + dt.timedelta(seconds=wait)
    session.execute(update(WebhookDelivery).where(*mine).values(**values))


class WebhookSender:
    """The worker step: `run_once` sends one round; True when it claimed something."""

    def __init__(
        self,
        engine: Engine,
        app_settings: Settings,
        *,
        sessions: Callable[[], AbstractContextManager[Session]] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = app_settings
        self.sessions = sessions or make_sessionmaker(engine)
        timeout = app_settings.webhook_timeout_seconds
        self.lease_seconds = timeout * 3 + LEASE_MARGIN_SECONDS
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport
        )

    def run_once(self) -> bool:
        with self.sessions() as session:
            claimed = claim_due(
                session, limit=self.settings.webhook_batch, lease_seconds=self.lease_seconds
            )
            session.commit()
        if not claimed:
            return False
        with ThreadPoolExecutor(max_workers=min(MAX_SENDERS, len(claimed))) as pool:
            outcomes = list(pool.map(lambda c: send(self.client, c), claimed))
        with self.sessions() as session:
            for item, outcome in zip(claimed, outcomes, strict=True):
                if not outcome.ok:
                    log.warning("webhook %s to %s: %s", item.event_id, item.url, outcome.error)
                record(session, item, outcome, app_settings=self.settings)
            session.commit()
        return True

    def close(self) -> None:
        self.client.close()
