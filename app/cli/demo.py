"""`ranklab demo`: seed demo accounts (and data) and print how to log in."""

from __future__ import annotations

import argparse

from app.cli.common import cli_session, settings
from app.core import migrate
from app.demo import seed_demo_accounts


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser("demo", help="seed demo accounts and print their credentials")
    demo.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    s = settings()
    migrate.upgrade(s.sqlalchemy_url)
    with cli_session() as session:
        creds = seed_demo_accounts(session, s.data_dir)
    print("Demo accounts (passwords kept in", s.data_dir / "demo_credentials.json", "):")
    for username, password in creds.items():
        print(f"  {username:<11} password: {password}")
    return 0
