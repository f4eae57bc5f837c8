"""Helpers shared by CLI commands: settings, a session, reading a password."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.errors import InvalidInput


def settings() -> Settings:
    s = get_settings()
    s.ensure_data_dir()
    return s


@contextmanager
def cli_session() -> Iterator[Session]:
    engine = make_engine(settings().sqlalchemy_url)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Repeat password: "):
            raise InvalidInput("The two passwords differ.")
    return password
