"""Demo data for the first five minutes: accounts now, a prompt set once generation lands.

Passwords are random per install and kept in `<data_dir>/demo_credentials.json` (mode
0600), so `make run` can print them every time without a hard-coded password.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from sqlalchemy.orm import Session

from app.accounts import service as accounts

DEMO_USERS = (("admin", "admin"), ("annotator", "annotator"), ("researcher", "researcher"))
CREDENTIALS_FILE = "demo_credentials.json"


def _load(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def seed_demo_accounts(session: Session, data_dir: Path) -> dict[str, str]:
    """Create the demo users that don't exist yet; return {username: password}."""
    path = data_dir / CREDENTIALS_FILE
    creds = _load(path)
    created = False
    for username, role in DEMO_USERS:
        if accounts.get_user_by_username(session, username) is not None:
            continue
        password = secrets.token_urlsafe(9)
        accounts.add_user(session, username=username, password=password, role=role)
        creds[username] = password
        created = True
    session.commit()
    if created:
        path.write_text(json.dumps(creds, indent=2))
        path.chmod(0o600)
    return creds
