"""`ranklab users create|token|list`."""

from __future__ import annotations

import argparse

from sqlalchemy import select

from app.accounts import service
from app.accounts.models import ROLE_VALUES, User
from app.cli.common import cli_session, read_password


def register(subparsers: argparse._SubParsersAction) -> None:
    users = subparsers.add_parser("users", help="manage people and API tokens")
    sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="create a user (asks for the password)")
    create.add_argument("username")
    create.add_argument("--role", choices=ROLE_VALUES, default="annotator")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.set_defaults(func=_create)

    token = sub.add_parser("token", help="create an API token and print it once")
    token.add_argument("username")
    token.add_argument("--name", default="cli")
    token.set_defaults(func=_token)

    sub.add_parser("list", help="list users").set_defaults(func=_list)


def _create(args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin)
    with cli_session() as session:
        user = service.create_user(
            session, username=args.username, password=password, role=args.role
        )
        print(f"created {user.role} {user.username!r} (id {user.id})")
    return 0


def _token(args: argparse.Namespace) -> int:
    with cli_session() as session:
        user = service.load_user_by_username(session, args.username)
        _, token = service.create_api_token(session, user=user, name=args.name)
    # The only time the token is ever shown: it is stored hashed.
    print(token)
    return 0


def _list(args: argparse.Namespace) -> int:
    with cli_session() as session:
        for user in session.scalars(select(User).order_by(User.id)):
            state = "active" if user.is_active else "inactive"
            print(f"{user.id:>5}  {user.username:<24} {user.role:<11} {state}")
    return 0
