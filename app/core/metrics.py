"""Ranklab's in-process Prometheus counters, and the multi-process mode's folder (issue 23).

Counters of things that happen in a request (an annotation stored, an item skipped, an
export row sent) are incremented here, where they happen; numbers that describe the
database's state (leases, queues, heartbeats) are read at scrape time by
app.monitoring.collector instead, so every app process reports the same truth.

prometheus-client picks its value storage when it is first imported: with
PROMETHEUS_MULTIPROC_DIR set, every process writes its counters to files there and a
scrape of any process sums them all. `ranklab serve --workers N` sets that folder up
(app.core.metrics_dir) before the workers start.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ANNOTATIONS = Counter("ranklab_annotations", "Rankings stored (retried submissions not counted)")
SKIPS = Counter("ranklab_skips", "Items given back by annotators with a reason")
EXPORT_ROWS = Counter("ranklab_export_rows", "Rows sent in dataset exports over HTTP", ["format"])
RATE_LIMIT_STORE_ERRORS = Counter(
    "ranklab_rate_limit_store_errors",
    "Rate-limit checks that failed because the shared counter store did not answer",
    ["scope"],
)
HTTP_REQUESTS = Counter(
    "ranklab_http_requests",
    "HTTP requests answered, by route template (not the raw path) and status",
    ["method", "route", "status"],
)
# Few buckets on purpose: each one is a series per route and method, and a write per request.
HTTP_SECONDS = Histogram(
    "ranklab_http_request_duration_seconds",
    "Time from the request to the end of the response body, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
