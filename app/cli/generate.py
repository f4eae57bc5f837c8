"""`ranklab generate --prompt-set NAME [--wait]`: queue a generation job, watch it finish.

With --wait the command also runs a worker in this process (unless --no-worker), so it
works without a running server; a `ranklab serve` or `ranklab worker` elsewhere shares
the job safely.
"""

from __future__ import annotations

import argparse
import sys
import time

from sqlalchemy import select

from app.cli.common import cli_session, settings
from app.core.errors import NotFound


def register(subparsers: argparse._SubParsersAction) -> None:
    gen = subparsers.add_parser("generate", help="generate candidates for a prompt set")
    gen.add_argument("--prompt-set", required=True, metavar="NAME", help="prompt set name")
    gen.add_argument(
        "--regenerate", action="store_true", help="replace candidates nobody has ranked yet"
    )
    gen.add_argument("--wait", action="store_true", help="show a progress bar until done")
    gen.add_argument(
        "--no-worker", action="store_true", help="with --wait: only watch, don't generate here"
    )
    gen.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    from app.core import migrate
    from app.generation import service
    from app.prompt_sets.models import PromptSet

    s = settings()
    migrate.upgrade(s.sqlalchemy_url)
    with cli_session() as session:
        prompt_set = session.scalars(
            select(PromptSet).where(PromptSet.name == args.prompt_set)
        ).first()
        if prompt_set is None:
            raise NotFound(f"No prompt set named {args.prompt_set!r}.")
        job = service.start_generation(
            session,
            prompt_set_id=prompt_set.id,
            created_by_id=None,
            regenerate=args.regenerate,
            app_settings=s,
        )
        print(f"generation job #{job.id}: {job.total} prompts queued ({job.status})", flush=True)
        if not args.wait or job.total == 0:
            return 0
        return _wait(job.id, run_worker=not args.no_worker)


def _wait(job_id: int, *, run_worker: bool) -> int:
    from tqdm import tqdm

    from app.core.db import make_engine
    from app.generation import jobs

    s = settings()
    stop_worker = None
    if run_worker:
        from app.generation.worker import start_in_thread

        engine = make_engine(s.sqlalchemy_url)
        stop_worker = start_in_thread(engine, s)
    try:
        with cli_session() as session, tqdm(unit="prompt", dynamic_ncols=True) as bar:
            while True:
                session.expire_all()
                p = jobs.job_progress(jobs.load_job(session, job_id))
                session.rollback()
                bar.total = p["total"]
                bar.n = p["done"] + p["failed"]
                bar.set_postfix(
                    status=p["status"], tok_s=p["tokens_per_second"] or 0, failed=p["failed"]
                )
                bar.refresh()
                if p["status"] not in ("queued", "running"):
                    break
                time.sleep(1.0)
    except KeyboardInterrupt:
        print("stopped watching; the job goes on in any running worker", file=sys.stderr)
        return 130
    finally:
        if stop_worker is not None:
            stop_worker()
    print(f"job #{job_id} {p['status']}: {p['done']} done, {p['failed']} failed", flush=True)
    if p["error"]:
        print(f"error: {p['error']}", file=sys.stderr)
    return 0 if p["status"] == "done" else 1
