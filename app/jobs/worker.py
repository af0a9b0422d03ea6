"""The arq worker (`takes worker`): runs generate_take for takes enqueued by the web server,
and sweeps for takes left behind by a dead worker.

Job ids are random: de-duplication is the take's lease in the database, not arq's job id,
because a killed worker's arq job stays "in progress" in Redis until it times out, and a
fixed id would block the take's resumption for that long.
"""

from __future__ import annotations

import asyncio
import logging

from arq.connections import RedisSettings

from app.db import Database
from app.jobs.context import JobContext
from app.jobs.generate import generate_take, mark_queued, stale_take_ids
from app.settings import get_settings

log = logging.getLogger(__name__)


async def generate_take_job(ctx: dict, take_id: str) -> str | None:
    return await generate_take(ctx["takes"], take_id)


async def _sweep_forever(ctx: dict) -> None:
    jctx: JobContext = ctx["takes"]
    while True:
        try:
            for tid in await mark_queued(jctx, await stale_take_ids(jctx)):
                await ctx["redis"].enqueue_job("generate_take_job", tid)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(jctx.settings.sweep_interval_s)


async def startup(ctx: dict) -> None:
    settings = get_settings()
    ctx["takes"] = JobContext.create(settings, Database(settings))
    ctx["sweeper"] = asyncio.create_task(_sweep_forever(ctx))
    log.info("takes worker %s started", ctx["takes"].worker_id)


async def shutdown(ctx: dict) -> None:
    ctx["sweeper"].cancel()
    await asyncio.gather(ctx["sweeper"], return_exceptions=True)
    await ctx["takes"].aclose()
    await ctx["takes"].db.dispose()


def worker_settings() -> type:
    settings = get_settings()

    class WorkerSettings:
        functions = [generate_take_job]
        on_startup = startup
        on_shutdown = shutdown
        redis_settings = RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379")
        max_jobs = 50                     # jobs are mostly waiting on provider polls
        job_timeout = int(settings.take_timeout_s + 600)
        keep_result = 60
        max_tries = 1000                  # a retried job is harmless: the lease decides who works

    return WorkerSettings
