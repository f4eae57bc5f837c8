"""`ranklab worker`: a background worker process: generation jobs, reward-model training,
judge runs and webhook deliveries (scale out: run one per machine or core).

Workers claim prompts with SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL, so any number
of them share the queue. SIGTERM/SIGINT drop the batch in flight (its prompts go back to
the queue) and exit.
"""

from __future__ import annotations

import argparse
import signal
import threading

from app.cli.common import settings


def register(subparsers: argparse._SubParsersAction) -> None:
    worker = subparsers.add_parser("worker", help="run a generation worker")
    worker.add_argument(
        "--until-idle", action="store_true", help="exit once no generation work is left"
    )
    worker.add_argument(
        "--poll", type=float, default=2.0, help="seconds between looks for new work"
    )
    worker.set_defaults(func=_worker)


def _worker(args: argparse.Namespace) -> int:
    from app.core.db import make_engine
    from app.core.webhooks.delivery import WebhookSender
    from app.generation.worker import Worker, new_worker_id
    from app.judges.worker import JudgeWorker
    from app.reward.worker import RewardWorker

    s = settings()
    engine = make_engine(s.sqlalchemy_url)
    worker_id = new_worker_id()
    steps = [
        RewardWorker(engine, s, worker_id).run_once,
        JudgeWorker(engine, s, worker_id).run_once,
        WebhookSender(engine, s).run_once,
    ]
    worker = Worker(engine, s, worker_id=worker_id, poll_seconds=args.poll, extra_work=steps)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        worker.stopping.set()
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"worker {worker.worker_id} started", flush=True)
    try:
        worker.run(stop, until_idle=args.until_idle)
    finally:
        engine.dispose()
    return 0
