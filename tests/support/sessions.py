"""Hand a test's own session to code that opens sessions itself (e.g. streaming exports)."""

from __future__ import annotations

from sqlalchemy.orm import Session


class SharedSession:
    """A session factory stand-in: every "new" session is the test's session, whose data
    lives only inside the test's rolled-back transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, *exc: object) -> None:
        return None
