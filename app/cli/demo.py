"""`ranklab demo`: seed demo accounts and a demo prompt set, queue its generation, and
print how to log in."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from app.accounts import service as accounts
from app.cli.common import cli_session, settings
from app.core import migrate
from app.core.config import Settings
from app.core.errors import AppError
from app.demo import seed_demo_accounts, seed_demo_prompt_set
from app.generation import jobs as generation_jobs
from app.prompt_sets.models import Prompt


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="seed demo accounts and print their credentials")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    s = settings()
    migrate.upgrade(s.sqlalchemy_url)
    with cli_session() as session:
        creds = seed_demo_accounts(session, s.data_dir)
        admin = accounts.get_user_by_username(session, "admin")
        try:
            prompt_set, job = seed_demo_prompt_set(session, s, admin.id if admin else None)
        except AppError as exc:  # e.g. the model package is missing: accounts still work
            session.rollback()
            _print_credentials(s, creds)
            print(f"Demo prompt set not generated: {exc.message}")
            return 0
        latest = generation_jobs.latest_job(session, prompt_set.id)
        ready = sum(
            1
            for _ in session.scalars(
                select(Prompt.id).where(
                    Prompt.prompt_set_id == prompt_set.id, Prompt.candidates_ready
                )
            )
        )
    _print_credentials(s, creds)
    if job is not None:
        print(
            f"Demo prompt set {prompt_set.name!r}: generation job #{job.id} queued for "
            f"{job.total} prompts; `ranklab serve` generates them in the background."
        )
    else:
        print(
            f"Demo prompt set {prompt_set.name!r}: {ready} prompts have their candidates"
            + ("." if latest is None else f"; generation job #{latest.id} is {latest.status}.")
        )
    return 0


def _print_credentials(s: Settings, creds: dict[str, str]) -> None:
    print("Demo accounts (passwords kept in", s.data_dir / "demo_credentials.json", "):")
    for username, password in creds.items():
        print(f"  {username:<11} password: {password}")
