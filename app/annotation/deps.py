"""Request dependencies of the annotation routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.annotation.suggestions import SuggestOrder


def _suggest_order(request: Request) -> SuggestOrder | None:
    # Set by app.main from a layer that may read judges; None: no suggestions at all.
    return getattr(request.app.state, "suggest_order", None)


# Where a judge's suggested starting order comes from (issue 13).
SuggestDep = Annotated[SuggestOrder | None, Depends(_suggest_order)]
