"""create_app(): settings, database, middleware, routers, static files, error handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware

from app import __version__
from app.core.api_docs import install_api_docs
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.error_handlers import install_error_handlers
from app.core.errors import API_ERROR_RESPONSES
from app.core.input_guard import InputGuard
from app.core.limits import BodySizeLimit
from app.core.package_files import STATIC_DIR
from app.core.rate_limits import RateLimits
from app.core.security_headers import SecurityHeaders
from app.judges.suggestions import suggested_order

log = logging.getLogger("ranklab")

SESSION_COOKIE = "ranklab_session"


def _routers() -> list:
    # Imported here so importing app.main stays cheap and free of cycles.
    from app.accounts import api as accounts_api
    from app.accounts import pages as accounts_pages
    from app.admin import adjudication_pages
    from app.admin import leaderboard as admin_leaderboard
    from app.admin import prompt_pages as admin_prompt_pages
    from app.admin import prompt_set_api as admin_prompt_set_api
    from app.admin import prompt_set_pages as admin_prompt_set_pages
    from app.admin import standings as admin_standings
    from app.admin import user_api as admin_user_api
    from app.admin import user_pages as admin_user_pages
    from app.annotation import api as annotation_api
    from app.annotation import pages as annotation_pages
    from app.core import health
    from app.exports import api as exports_api
    from app.exports import pages as exports_pages
    from app.generation import api as generation_api
    from app.generation import pages as generation_pages
    from app.judges import api as judges_api
    from app.judges import pages as judges_pages
    from app.prompt_sets import api as prompt_sets_api
    from app.prompt_sets import pages as prompt_sets_pages
    from app.prompt_sets import prompts_api
    from app.reward import api as reward_api
    from app.reward import pages as reward_pages

    return [
        health.router,
        accounts_pages.router,
        accounts_api.router,
        admin_user_pages.router,
        admin_user_api.router,
        prompt_sets_pages.router,
        prompt_sets_api.router,
        admin_prompt_set_pages.router,
        admin_prompt_set_api.router,
        admin_leaderboard.api_router,
        admin_leaderboard.router,
        admin_standings.router,
        admin_standings.api_router,
        admin_prompt_pages.router,
        adjudication_pages.router,
        annotation_pages.router,
        annotation_api.router,
        exports_pages.router,
        exports_api.router,
        generation_api.router,
        generation_pages.router,
        prompts_api.router,
        reward_api.router,
        reward_pages.router,
        judges_api.router,
        judges_pages.router,
    ]


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    settings = settings or get_settings()
    if engine is None:
        settings.ensure_data_dir()
        engine = make_engine(settings.sqlalchemy_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.run_worker_in_process:
            from app.generation.worker import start_in_thread
            from app.judges.worker import JudgeWorker
            from app.reward.worker import RewardWorker

            def other_steps(worker_id: str) -> list:
                return [
                    RewardWorker(engine, settings, worker_id).run_once,
                    JudgeWorker(engine, settings, worker_id).run_once,
                ]

            app.state.on_shutdown.append(start_in_thread(engine, settings, other_steps))
        yield
        for stop in app.state.on_shutdown:
            stop()

    app = FastAPI(
        title="Ranklab",
        version=__version__,
        description="Collect human rankings of LLM answers; export reward-model datasets.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    app.state.rate_limits = RateLimits(
        login_per_account=settings.login_rate_limit_per_account,
        login_per_address=settings.login_rate_limit_per_address,
        api_per_token=settings.api_rate_limit_per_token,
        storage_uri=settings.rate_limit_storage,
    )
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.on_shutdown = []
    # The annotation layer's lease path asks this for a judge's suggested starting order
    # (issue 13); it cannot import app.judges itself.
    app.state.suggest_order = suggested_order

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key(),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    app.add_middleware(InputGuard)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)
    install_error_handlers(app)
    if settings.docs_enabled:
        install_api_docs(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for router in _routers():
        api = router.prefix.startswith("/api/")
        app.include_router(router, responses=API_ERROR_RESPONSES if api else None)
    return app
