"""create_app(): the one place the app is assembled — settings → database → job runner →
services, then middleware, error handlers, the OpenAPI document, static files and the routers
(one per resource, app/web/*.py; docs/architecture-web.md lists them)."""

from __future__ import annotations

import functools
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from app.accounts import use_profile as use_password_profile
from app.db import Database
from app.errors import TakesError
from app.jobs.context import JobContext
from app.jobs.runner import ArqQueue, InProcessRunner
from app.ratelimit import Limits
from app.settings import Settings, get_settings
from app.web import (accounts, boards, catalog, comments, comparisons, decisions, docs, errors, exports, downloads, hooks,
                     identity, leaderboard, live, media, members, reports, reviewers, schemas, selections, sharing, takes,
                     votes, webhooks)
from app.web import suite_pages, suites, tags
from app.web.inputs import InputLimits
from app.web.media_grants import Grants, MediaGrants
from app.web.methods import AllowedMethods
from app.web.security import SecurityMiddleware
from app.web.services import Memo
from app.web.templating import make_templates

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("takes")
ROUTERS = (comparisons, takes, votes, comments, boards, members, leaderboard, exports, accounts, catalog, media, docs, live,
           downloads, sharing, suites, suite_pages, tags, decisions, reviewers, reports, selections, hooks, webhooks)


@functools.cache
def routes() -> tuple[BaseRoute, ...]:
    """Every resource router, included once per process, each of its routes behind the guard (who
    is asking, and the CSRF check) and declaring the 422 ErrorOut body (app.web.errors).

    Once, not once per app: FastAPI works out each route's dependencies per inclusion, which
    costs about 0.3 s of CPU on an app's first requests (141 routes), and the tests build an app
    for nearly every test. The routes hold nothing of one app (handlers reach the app's state
    through `request.app`), so every app in the process shares them."""
    every = APIRouter(dependencies=[Depends(identity.guard)])
    for module in ROUTERS:
        every.include_router(module.router, responses=schemas.errors())
    return tuple(every.routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    use_password_profile(settings.argon2_profile)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = Database(settings, pre_ping=False)   # see app.db.make_engine
        ctx = JobContext.create(settings, db)
        queue = ArqQueue(ctx, settings.redis_url) if settings.redis_url else InProcessRunner(ctx)
        await queue.start()
        # What app.web.services.services hands to every route (and tests reach directly).
        app.state.db, app.state.jobs, app.state.queue = db, ctx, queue
        app.state.catalog, app.state.providers, app.state.storage = ctx.catalog, ctx.providers, ctx.storage
        app.state.events = ctx.events
        log.info("takes: %s, jobs %s, media in %s", db.engine.url.render_as_string(hide_password=True),
                 "on arq/Redis" if settings.redis_url else "in-process", settings.media_dir)
        try:
            yield
        finally:
            await queue.stop()
            await ctx.aclose()
            await db.dispose()

    app = FastAPI(
        title="Takes",
        summary="One prompt → several video models → synced side-by-side review → votes → leaderboard.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None, redoc_url=None,   # app.web.docs serves them without a CDN
    )
    app.state.settings, app.state.templates = settings, make_templates(settings)
    app.state.limits, app.state.memo = Limits(settings), Memo()
    app.state.media_grants = Grants(settings.media_grant_ttl_s)
    app.add_middleware(AllowedMethods, router=app.router)
    # innermost but one: a remembered media grant skips routing, the guard and the session
    app.add_middleware(MediaGrants, settings=settings, grants=app.state.media_grants,
                       storage_of=lambda: app.state.storage)
    app.add_middleware(InputLimits, settings=settings)       # inside SecurityMiddleware: its headers on a 413
    app.add_middleware(SecurityMiddleware, settings=settings)
    app.add_exception_handler(TakesError, errors.takes_error)
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(StarletteHTTPException, errors.http_error)
    app.openapi = lambda: docs.openapi_schema(app, getattr(app.state, "catalog", None),
                                              getattr(app.state, "providers", None))
    app.mount("/static", StaticFiles(directory=ROOT / "static", packages=[("fastapi_offline", "static")]),
              name="static")
    app.router.routes.extend(routes())
    return app
