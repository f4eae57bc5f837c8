"""Demo data for the first five minutes: accounts, and a prompt set whose candidates generate.

Passwords are random per install and kept in `<data_dir>/demo_credentials.json` (mode
0600), so `make run` can print them every time without a hard-coded password.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import service as accounts
from app.core.config import Settings
from app.generation import jobs as generation_jobs
from app.generation.models import GenerationJob
from app.prompt_sets.content import content_hash
from app.prompt_sets.models import Prompt, PromptSet

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


def seed_demo_prompt_set(
    session: Session, app_settings: Settings, created_by_id: int | None = None
) -> tuple[PromptSet, GenerationJob | None]:
    """Create the demo prompt set (once) and queue generation for prompts without
    candidates, unless a job already covers them. Idempotent; commits.

    Returns the set and the job queued now (None when nothing needed queueing).
    """
    from app.demo_prompts import (
        DEMO_DESCRIPTION,
        DEMO_GENERATION,
        DEMO_GUIDELINES,
        DEMO_PROMPTS,
        DEMO_SET_NAME,
        DEMO_SYSTEM_PROMPT,
    )

    prompt_set = session.scalars(select(PromptSet).where(PromptSet.name == DEMO_SET_NAME)).first()
    if prompt_set is None:
        prompt_set = PromptSet(
            name=DEMO_SET_NAME,
            description=DEMO_DESCRIPTION,
            guidelines=DEMO_GUIDELINES,
            system_prompt=DEMO_SYSTEM_PROMPT,
            generation=dict(DEMO_GENERATION),
            candidates_per_prompt=4,
            annotators_per_prompt=2,
            created_by_id=created_by_id,
        )
        session.add(prompt_set)
        session.flush()
        for row in DEMO_PROMPTS:
            text, messages = row.get("text"), row.get("messages")
            # Leave the unused column unset: a JSON column given None stores JSON 'null'.
            content = {"text": text} if text is not None else {"messages": messages}
            session.add(
                Prompt(
                    prompt_set_id=prompt_set.id,
                    external_id=row["id"],
                    meta={"category": row["category"]},
                    content_hash=content_hash(text, messages),
                    **content,
                )
            )
        session.commit()
    job = generation_jobs.queue_job(
        session,
        prompt_set_id=prompt_set.id,
        created_by_id=created_by_id,
        app_settings=app_settings,
    )
    if job.total == 0:
        # Nothing to do (all generated, or an active job covers it): keep no empty job.
        session.delete(job)
        session.commit()
        return prompt_set, None
    session.commit()
    return prompt_set, job
