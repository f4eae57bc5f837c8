"""Benchmark: what webhooks cost the action that emits them, and how fast the worker sends.

    PYTHONPATH=$PWD python bench/webhooks.py [--emits 2000] [--deliveries 500]
        [--database ranklab_bench_webhooks]

On a throwaway PostgreSQL database (RANKLAB_TEST_POSTGRES_URL's server): the median and p95
wall time of `outbox.emit` inside a transaction (rolled back each time), with no endpoint
registered (the usual case: one small read) and with three subscribed endpoints (three
outbox rows); then `--deliveries` events for one endpoint sent by `WebhookSender.run_once`
rounds to a loopback receiver that verifies each signature: deliveries per second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from annotate import fresh_database  # noqa: E402

import app.models  # noqa: E402,F401
from app.core.config import Settings  # noqa: E402
from app.core.db import make_engine  # noqa: E402
from app.core.webhooks import events, outbox  # noqa: E402
from app.core.webhooks.delivery import WebhookSender  # noqa: E402
from app.core.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402
from tests.support.webhook_receiver import webhook_receiver  # noqa: E402

DATA = {"prompt_set_id": 1, "prompt_id": 2, "rankings": 3, "seats": 3}


def _emit_times(engine, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    with Session(engine) as session:
        for _ in range(n):
            start = time.perf_counter()
            outbox.emit(session, events.PROMPT_COMPLETED, DATA)
            times.append(time.perf_counter() - start)
            session.rollback()
    return times


def _summary(label: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95)]
    print(f"{label}: median {statistics.median(ms):.3f} ms, p95 {p95:.3f} ms (n={len(ms)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emits", type=int, default=2000)
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--database", default="ranklab_bench_webhooks")
    args = parser.parse_args()
    admin_url = os.environ.get(
        "RANKLAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    engine = make_engine(fresh_database(admin_url, args.database))
    _summary("emit, no endpoint", _emit_times(engine, args.emits))
    with Session(engine) as session:
        for n in range(3):
            session.add(
                WebhookEndpoint(
                    url=f"http://127.0.0.1:9/{n}",
                    events=[events.PROMPT_COMPLETED],
                    secret="whsec_A",
                )
            )
        session.commit()
    _summary("emit, 3 endpoints", _emit_times(engine, args.emits))

    with webhook_receiver() as receiver, Session(engine) as session:
        session.execute(delete(WebhookEndpoint))
        endpoint = WebhookEndpoint(
            url=receiver.url("/h"), events=[events.PROMPT_COMPLETED], secret="whsec_" + "A" * 32
        )
        session.add(endpoint)
        session.commit()
        receiver.secrets["/h"] = endpoint.secret
        for _ in range(args.deliveries):
            outbox.emit(session, events.PROMPT_COMPLETED, DATA)
        session.commit()
        settings = Settings(database_url=str(engine.url), secret_key="x" * 48)
        sender = WebhookSender(engine, settings)
        start = time.perf_counter()
        while sender.run_once():
            pass
        wall = time.perf_counter() - start
        sent = session.scalar(select(func.count()).where(WebhookDelivery.status == "delivered"))
        verified = sum(r.verified for r in receiver.requests)
        print(
            f"delivery: {sent} delivered ({verified} verified by the receiver) in {wall:.2f} s, "
            f"{sent / wall:.0f}/s, batch {settings.webhook_batch}"
        )
        sender.close()
    engine.dispose()


if __name__ == "__main__":
    main()
