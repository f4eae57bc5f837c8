"""The one way form routes read a posted form.

Parsing the body needs `await`; doing it in a dependency lets the routes themselves stay
plain `def`, which FastAPI runs in its threadpool, so their database work and password
hashing never block the event loop. Starlette caches the parsed form, so the CSRF check
and this dependency read the body once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData


async def posted_form(request: Request) -> FormData:
    """The whole form, repeated fields and files included."""
    return await request.form()


async def form_fields(form: Annotated[FormData, Depends(posted_form)]) -> dict[str, str]:
    """The form's text fields (the last value of a repeated one; files left out)."""
    return {k: v for k, v in form.items() if isinstance(v, str)}


PostedForm = Annotated[FormData, Depends(posted_form)]
FormFields = Annotated[dict[str, str], Depends(form_fields)]
