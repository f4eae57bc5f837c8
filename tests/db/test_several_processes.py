"""Several app processes that agree (issue 23): two real `ranklab serve` processes on one
PostgreSQL, sharing login throttling through a real redis-server and their metrics
through prometheus-client's multi-process folder."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from app.core.db import make_engine
from tests.factories.accounts import make_user
from tests.support.http import login
from tests.support.redis_server import RedisServer, start_redis
from tests.support.server import LiveServer, ranklab_env, start_server

pytestmark = pytest.mark.postgres


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def two_servers(
    tmp_path: Path, fresh_postgres_url: str, redis_server: RedisServer
) -> Iterator[list[LiveServer]]:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = ranklab_env(
        tmp_path / "data",
        fresh_postgres_url,
        RANKLAB_SECRET_KEY="s" * 48,
        RANKLAB_RATE_LIMIT_STORAGE=redis_server.url,
        RANKLAB_LOGIN_RATE_LIMIT_PER_ACCOUNT="5/minute",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    env.pop("RANKLAB_METRICS_TOKEN", None)  # the loopback rule: no token, scraped from here
    with ThreadPoolExecutor(2) as pool:  # the two starts overlap: about half the wall time
        starts = [
            pool.submit(start_server, env, tmp_path / f"server{i}.log", ["--no-migrate"])
            for i in range(2)
        ]
        servers = [start.result() for start in starts]
    yield servers
    for server in servers:
        server.stop()


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_two_processes_share_login_limits_and_metrics_and_fail_closed_without_redis(
    two_servers: list[LiveServer], redis_server: RedisServer, fresh_postgres_url: str
) -> None:
    engine = make_engine(fresh_postgres_url)
    with Session(engine) as session:
        user = make_user(session)
        username = user.username
    engine.dispose()
    clients = [httpx.Client(base_url=server.base_url, timeout=10) for server in two_servers]

    # Five wrong passwords, alternating between the processes: each process saw at most
    # three, so only a shared counter knows the account is used up.
    for attempt in range(5):
        assert login(clients[attempt % 2], username, "wrong").status_code == 401
    for client in clients:
        refused = login(client, username, "wrong")
        assert refused.status_code == 429, refused.text
        assert "Too many failed attempts" in refused.text

    # Any process's /metrics sums both processes' counters (header-less, from loopback).
    scraped = clients[0].get("/metrics")
    assert scraped.status_code == 200, scraped.text
    logins = _samples(scraped.text, "ranklab_http_requests_total")
    assert logins[(("method", "POST"), ("route", "/login"), ("status", "401"))] == 5
    assert logins[(("method", "POST"), ("route", "/login"), ("status", "429"))] == 2
    assert logins[(("method", "GET"), ("route", "/login"), ("status", "200"))] == 7

    # Redis gone: logins are refused with a clear 503, not let through unthrottled.
    redis_server.stop()
    for client in clients:
        down = login(client, username, "wrong")
        assert down.status_code == 503
        assert "rate-limit store" in down.text
        assert down.headers["retry-after"] == "30"
    errors = _samples(clients[1].get("/metrics").text, "ranklab_rate_limit_store_errors_total")
    assert errors[(("scope", "login"),)] == 2
    for client in clients:
        client.close()
