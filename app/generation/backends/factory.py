"""Pick a backend implementation for a job's settings.

Apart from the interface in __init__.py so the implementations, which import that interface,
are never imported back by it; imported lazily so the web process loads torch only when it
generates.
"""

from __future__ import annotations

from app.core.config import Settings
from app.generation.backends import Backend
from app.generation.config import JobSettings


def make_backend(gen: JobSettings, app_settings: Settings) -> Backend:
    if gen.backend == "openai":
        from app.generation.backends.openai import OpenAIBackend

        return OpenAIBackend.from_settings(gen, app_settings)
    from app.generation.backends.transformers import load_transformers_backend

    return load_transformers_backend(gen, app_settings)
