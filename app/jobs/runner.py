"""Runners: how generate_take gets called.

- InProcessRunner (no REDIS_URL): asyncio tasks inside the web server; the embedded default.
- ArqQueue (REDIS_URL set): the web server only enqueues; `takes worker` processes run
  generate_take through arq.

Both use the same sweeper: every few seconds, takes that are not finished and not held by
a live lease are (re)queued. That is how a take survives a crash or a lost enqueue.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from app.jobs.context import JobContext
from app.jobs.generate import generate_take, mark_queued, stale_take_ids

log = logging.getLogger(__name__)


class Queue(Protocol):
    async def enqueue(self, take_ids: list[str]) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class InProcessRunner:
    def __init__(self, ctx: JobContext):
        self.ctx = ctx
        self._tasks: dict[str, asyncio.Task] = {}
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="takes-sweeper")

    async def stop(self) -> None:
        tasks = list(self._tasks.values()) + ([self._sweeper] if self._sweeper else [])
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def enqueue(self, take_ids: list[str]) -> None:
        for tid in await mark_queued(self.ctx, take_ids):
            self._spawn(tid)

    def _spawn(self, take_id: str) -> None:
        if take_id in self._tasks and not self._tasks[take_id].done():
            return
        task = asyncio.create_task(generate_take(self.ctx, take_id), name=f"take-{take_id}")
        self._tasks[take_id] = task
        task.add_done_callback(lambda t, tid=take_id: self._tasks.pop(tid, None) if self._tasks.get(tid) is t else None)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.enqueue(await stale_take_ids(self.ctx))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweep failed")
            await asyncio.sleep(self.ctx.settings.sweep_interval_s)

    async def wait_idle(self, timeout: float = 60) -> None:
        """Tests: wait until no take task is running."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self._tasks:
            if loop.time() > end:
                raise TimeoutError(f"takes still running: {list(self._tasks)}")
            await asyncio.sleep(0.05)


class ArqQueue:
    """Enqueue side of the arq path (the web server); the worker side is app.jobs.worker."""

    def __init__(self, ctx: JobContext, redis_url: str):
        self.ctx = ctx
        self.redis_url = redis_url
        self._pool = None

    async def start(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        self._pool = await create_pool(RedisSettings.from_dsn(self.redis_url))

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def enqueue(self, take_ids: list[str]) -> None:
        for tid in await mark_queued(self.ctx, take_ids):
            await self._pool.enqueue_job("generate_take_job", tid)
