"""JSON API for webhook endpoints (admin only): CRUD and each endpoint's recent deliveries.
The secret is in the creation answer only; no other answer carries it."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from app.accounts.deps import AdminUser
from app.admin import webhooks
from app.core.db import SessionDep
from app.core.inputs import Bool, Id, Text
from app.core.webhooks.models import WebhookDelivery, WebhookEndpoint

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Text = Field(max_length=webhooks.MAX_URL_CHARS)
    events: list[Text] = Field(max_length=50)
    description: Text = Field(default="", max_length=webhooks.MAX_DESCRIPTION_CHARS)
    is_active: Bool = True

    def to_input(self) -> webhooks.EndpointInput:
        return webhooks.EndpointInput(self.url, list(self.events), self.description, self.is_active)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Text | None = Field(default=None, max_length=webhooks.MAX_URL_CHARS)
    events: list[Text] | None = Field(default=None, max_length=50)
    description: Text | None = Field(default=None, max_length=webhooks.MAX_DESCRIPTION_CHARS)
    is_active: Bool | None = None


class EndpointOut(BaseModel):
    id: int
    url: str
    events: list[str]
    description: str
    is_active: bool
    created_at: dt.datetime
    # Set when a delivery ran out of attempts; cleared by the next success.
    failing_since: dt.datetime | None


class NewEndpoint(EndpointOut):
    secret: str  # shown once: keep it, it verifies every delivery's signature


class DeliveryOut(BaseModel):
    id: int
    event_id: str  # the webhook-id header
    event_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


def endpoint_out(row: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(**{name: getattr(row, name) for name in EndpointOut.model_fields})


def delivery_out(row: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(**{name: getattr(row, name) for name in DeliveryOut.model_fields})


@router.get("/webhooks", response_model=list[EndpointOut])
def list_webhooks(session: SessionDep, admin: AdminUser) -> list[EndpointOut]:
    return [endpoint_out(e) for e in webhooks.list_endpoints(session)]


@router.post("/webhooks", response_model=NewEndpoint, status_code=201)
def create_webhook(body: EndpointIn, session: SessionDep, admin: AdminUser) -> NewEndpoint:
    """Register a receiver. The answer's `secret` (whsec_...) is shown this once."""
    endpoint, secret = webhooks.create_endpoint(session, body.to_input())
    return NewEndpoint(**endpoint_out(endpoint).model_dump(), secret=secret)


@router.get("/webhooks/{endpoint_id}", response_model=EndpointOut)
def get_webhook(endpoint_id: Id, session: SessionDep, admin: AdminUser) -> EndpointOut:
    return endpoint_out(webhooks.load_endpoint(session, endpoint_id))


@router.patch("/webhooks/{endpoint_id}", response_model=EndpointOut)
def update_webhook(
    endpoint_id: Id, body: EndpointPatch, session: SessionDep, admin: AdminUser
) -> EndpointOut:
    """Change the fields given; the others keep their values."""
    current = webhooks.load_endpoint(session, endpoint_id)
    data = webhooks.EndpointInput(
        body.url if body.url is not None else current.url,
        list(body.events) if body.events is not None else list(current.events),
        body.description if body.description is not None else current.description,
        body.is_active if body.is_active is not None else current.is_active,
    )
    return endpoint_out(webhooks.update_endpoint(session, endpoint_id, data))


@router.delete("/webhooks/{endpoint_id}", status_code=204)
def delete_webhook(endpoint_id: Id, session: SessionDep, admin: AdminUser) -> Response:
    webhooks.delete_endpoint(session, endpoint_id)
    return Response(status_code=204)


@router.get("/webhooks/{endpoint_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(endpoint_id: Id, session: SessionDep, admin: AdminUser) -> list[DeliveryOut]:
    """The newest deliveries first (at most 50)."""
    webhooks.load_endpoint(session, endpoint_id)
    return [delivery_out(d) for d in webhooks.recent_deliveries(session, endpoint_id)]
