"""`ranklab db upgrade|current`."""

from __future__ import annotations

import argparse

from app.cli.common import settings
from app.core import migrate
from app.core.db import make_engine


def register(subparsers: argparse._SubParsersAction) -> None:
    db = subparsers.add_parser("db", help="database schema")
    sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = sub.add_parser("upgrade", help="apply pending migrations")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=_upgrade)
    sub.add_parser("current", help="show the schema revision").set_defaults(func=_current)


def _upgrade(args: argparse.Namespace) -> int:
    url = settings().sqlalchemy_url
    migrate.upgrade(url, args.revision)
    print(f"database at {args.revision}: {_redacted(url)}")
    return 0


def _current(args: argparse.Namespace) -> int:
    engine = make_engine(settings().sqlalchemy_url)
    try:
        current = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    print(f"current: {current or '(empty)'}  head: {head}")
    return 0 if current == head else 1


def _redacted(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)
