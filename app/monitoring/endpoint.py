"""GET /metrics: the Prometheus text exposition, for a scraper rather than a browser.

Who may read it (docs/security.md): with RANKLAB_METRICS_TOKEN set, a caller sending
`Authorization: Bearer <token>`; without one, only a caller on the loopback interface
that came through no proxy (a proxy on the same host would otherwise make every remote
client look local). Metrics name prompt sets and workers and show traffic, so they are
not public. Refusals are plain text, for the person reading a scraper's error log.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.core.db import SessionDep
from app.core.metrics_dir import multiprocess_dir
from app.monitoring.collector import DatabaseMetrics

router = APIRouter(tags=["monitoring"])

PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


class _ThisProcess(Collector):
    """The default registry's metrics (our counters, process and GC stats) of this process."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def refusal(request: Request, token: str) -> PlainTextResponse | None:
    """Why this caller may not read the metrics, as the response to send; None: it may."""
    if token:
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not sent:
            return PlainTextResponse(
                "Metrics need `Authorization: Bearer <RANKLAB_METRICS_TOKEN>`.\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        if not hmac.compare_digest(sent.strip().encode(), token.encode()):
            return PlainTextResponse(
                "This bearer token is not the metrics scrape token.\n", status_code=403
            )
        return None
    host = request.client.host if request.client else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or any(name in request.headers for name in PROXY_HEADERS):
        return PlainTextResponse(
            "Metrics are served to loopback callers only while RANKLAB_METRICS_TOKEN is "
            "unset; set it and scrape with `Authorization: Bearer <token>`.\n",
            status_code=403,
        )
    return None


def scrape_registry(database: DatabaseMetrics) -> CollectorRegistry:
    """This scrape's metrics: every app process's counters (summed from the multi-process
    folder when there is one, else this process's) plus the database's gauges, read once."""
    registry = CollectorRegistry(auto_describe=False)
    folder = multiprocess_dir()
    if folder:
        MultiProcessCollector(registry, path=folder)
    else:
        registry.register(_ThisProcess())
    registry.register(database)
    return registry


@router.get("/metrics", include_in_schema=False, response_model=None)
def metrics(request: Request, session: SessionDep) -> Response:
    refused = refusal(request, request.app.state.settings.metrics_token)
    if refused is not None:
        return refused
    body = generate_latest(scrape_registry(DatabaseMetrics(session)))
    session.rollback()  # read only; end the transaction before the body goes out
    return Response(body, media_type=CONTENT_TYPE_LATEST)
