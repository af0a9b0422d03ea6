"""create_app(): settings → database → job runner → routers, static files and templates."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from app.db import Database
from app.errors import InputError
from app.jobs.context import JobContext
from app.jobs.runner import ArqQueue, InProcessRunner
from app.settings import Settings, get_settings
from app.web import api, auth, boards, comments, exports, leaderboard, media, pages, review, security
from app.web.templating import make_templates

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("takes")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        db = Database(settings)
        ctx = JobContext.create(settings, db)
        queue = ArqQueue(ctx, settings.redis_url) if settings.redis_url else InProcessRunner(ctx)
        await queue.start()
        app.state.db, app.state.jobs, app.state.queue = db, ctx, queue
        app.state.catalog, app.state.providers, app.state.storage = ctx.catalog, ctx.providers, ctx.storage
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
        # Every route: who is asking (session, API token or anonymous) and the CSRF check.
        dependencies=[Depends(security.guard)],
    )
    app.state.settings = settings
    app.state.templates = make_templates(settings)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(media.router)
    app.include_router(auth.router)
    app.include_router(boards.router)
    app.include_router(comments.router)
    app.include_router(review.router)
    app.include_router(exports.router)
    app.include_router(leaderboard.router)
    security.install(app)

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError):
        if request.url.path.startswith("/api/") or not _wants_html(request):
            return JSONResponse({"detail": exc.message, "errors": exc.errors}, status_code=exc.status_code)
        return app.state.templates.TemplateResponse(
            request, "error.html", {"message": exc.message, "errors": exc.errors}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errors = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()]
        return JSONResponse({"detail": errors[0] if errors else "invalid request", "errors": errors}, status_code=422)

    return app


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") or request.headers.get("hx-request") == "true"
