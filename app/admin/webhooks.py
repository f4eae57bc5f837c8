"""Webhook endpoints, for admins: register, edit, remove, and see recent deliveries.

The rules live here, for the API and the pages alike: a URL is http(s) with a host (no
other scheme: `javascript:`, `file:`, `ftp:` are refused naming `url`), the events are a
non-empty subset of app.core.webhooks.events.EVENTS. The secret (`whsec_` + 24 random bytes
in base64, the Standard Webhooks form) is made here and returned once, at creation.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import sessions
from app.core.errors import InvalidInput, NotFound
from app.core.webhooks.events import EVENTS
from app.core.webhooks.models import WebhookDelivery, WebhookEndpoint

MAX_URL_CHARS = 2000
MAX_DESCRIPTION_CHARS = 200
RECENT_DELIVERIES = 50


class EndpointNotFound(NotFound):
    code = "webhook_not_found"


class InvalidEndpoint(InvalidInput):
    code = "invalid_webhook"


@dataclass(frozen=True)
class EndpointInput:
    url: str
    events: list[str]
    description: str = ""
    is_active: bool = True


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook endpoint, or None."""
    if not url:
        return "enter the receiver's URL"
    if len(url) > MAX_URL_CHARS:
        return f"at most {MAX_URL_CHARS} characters"
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "a URL has no spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return "not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        scheme = f"{parts.scheme}:" if parts.scheme else "no scheme"
        return f"must start with http:// or https:// ({scheme} is not allowed)"
    if not parts.hostname:
        return "must name a host, as in https://example.org/hooks"
    return None


def _problems(data: EndpointInput) -> list[dict[str, str]]:
    errors = []
    if (problem := url_problem(data.url)) is not None:
        errors.append({"field": "url", "message": f"url: {problem}"})
    unknown = sorted(set(data.events) - set(EVENTS))
    if unknown:
        message = f"events: unknown {', '.join(unknown)}; known: {', '.join(EVENTS)}"
        errors.append({"field": "events", "message": message})
    elif not data.events:
        errors.append({"field": "events", "message": "events: choose at least one event"})
    if len(data.description) > MAX_DESCRIPTION_CHARS:
        message = f"description: at most {MAX_DESCRIPTION_CHARS} characters"
        errors.append({"field": "description", "message": message})
    return errors


def _check(data: EndpointInput) -> None:
    errors = _problems(data)
    if errors:
        summary = "; ".join(e["message"] for e in errors)
        raise InvalidEndpoint(f"The webhook was not saved: {summary}.", errors=errors)


def _ordered(events: Iterable[str]) -> list[str]:
    wanted = set(events)
    return [e for e in EVENTS if e in wanted]


def create_endpoint(
    session: Session, data: EndpointInput, *, show_to_browser_session: int | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (shown once). With
    `show_to_browser_session`, the secret also waits, server-side, for that browser
    session's next page (the admin page's once). One commit."""
    _check(data)
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=data.url,
        events=_ordered(data.events),
        description=data.description,
        is_active=data.is_active,
        secret=secret,
    )
    session.add(endpoint)
    session.flush()
    if show_to_browser_session is not None:
        label = f"Signing secret of webhook {endpoint.id} (shown once; keep it now)"
        sessions.add_shown_once(
            session, browser_session_id=show_to_browser_session, label=label, secret=secret
        )
    session.commit()
    return endpoint, secret


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def load_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound(f"Webhook endpoint {endpoint_id} does not exist.")
    return endpoint


def update_endpoint(session: Session, endpoint_id: int, data: EndpointInput) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description or active flag (never its secret).
    Deliveries already queued keep going to it. Commits."""
    endpoint = load_endpoint(session, endpoint_id)
    _check(data)
    endpoint.url, endpoint.events = data.url, _ordered(data.events)
    endpoint.description, endpoint.is_active = data.description, data.is_active
    session.commit()
    return endpoint


def delete_endpoint(session: Session, endpoint_id: int) -> None:
    """Remove an endpoint and its deliveries (sent or not). Commits."""
    session.delete(load_endpoint(session, endpoint_id))
    session.commit()


def recent_deliveries(
    session: Session, endpoint_id: int, limit: int = RECENT_DELIVERIES
) -> list[WebhookDelivery]:
    """The endpoint's newest deliveries first: status, attempts, next retry, last error."""
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
