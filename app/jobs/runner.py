"""Runners: how a take's steps (app.jobs.generate.step_take) get run.

- InProcessRunner (no REDIS_URL): asyncio tasks inside the web server; the embedded default.
  A take waiting for its next poll is a timer, not a sleeping task.
- ArqQueue (REDIS_URL set): the web server only enqueues; `takes worker` processes run the
  steps through arq (app.jobs.worker), each step a short job that enqueues the next with a
  delay. Job ids are `take:<take id>:<step>`, so enqueueing a step twice is a no-op.

Both sweep: every few seconds, takes that are not finished and not held by a live lease are
(re)queued. That is how a take survives a crash, an outage, or a lost enqueue. If the web
server cannot reach Redis, the comparison is still answered (202): its takes are committed
with it, unheld, and the first sweep of a worker delivers them (the takes table is the
outbox).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from app.jobs.context import JobContext
from app.jobs.generate import OUTAGE, step_take
from app.jobs.leases import mark_queued, stale_takes, unmark

log = logging.getLogger(__name__)


def job_id(take_id: str, seq: int) -> str:
    return f"take:{take_id}:{seq}"


class Queue(Protocol):
    async def enqueue(self, take_ids: list[str]) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class InProcessRunner:
    def __init__(self, ctx: JobContext):
        self.ctx = ctx
        self._tasks: dict[str, asyncio.Task] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="takes-sweeper")

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks.values()) + ([self._sweeper] if self._sweeper else [])
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def enqueue(self, take_ids: list[str]) -> None:
        for tid, seq in await mark_queued(self.ctx, take_ids):
            self._schedule(tid, seq, 0.0)

    def _schedule(self, take_id: str, seq: int, delay: float) -> None:
        old = self._timers.pop(take_id, None)
        if old:
            old.cancel()
        self._timers[take_id] = asyncio.get_running_loop().call_later(delay, self._spawn, take_id, seq)

    def _spawn(self, take_id: str, seq: int) -> None:
        self._timers.pop(take_id, None)
        if take_id in self._tasks:
            return   # a step of it is running; the step's lease keeps this one out anyway
        self._tasks[take_id] = asyncio.create_task(self._run(take_id, seq), name=f"take-{take_id}")

    async def _run(self, take_id: str, seq: int) -> None:
        try:
            step = await step_take(self.ctx, take_id, seq)
        finally:
            self._tasks.pop(take_id, None)
        if step.delay is not None:
            self._schedule(take_id, step.seq, step.delay)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                stale = [t for t in await stale_takes(self.ctx)
                         if t.take_id not in self._tasks and t.take_id not in self._timers]
                await self.enqueue([t.take_id for t in stale])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweep failed")
            await asyncio.sleep(self.ctx.settings.sweep_interval_s)

    async def wait_idle(self, timeout: float = 60) -> None:
        """Tests: wait until no take has a step running or due."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self._tasks or self._timers:
            if loop.time() > end:
                raise TimeoutError(f"takes still running: {list(self._tasks) + list(self._timers)}")
            await asyncio.sleep(0.05)


async def enqueue_steps(ctx: JobContext, redis, steps: list[tuple[str, int]], delay: float = 0.0) -> None:
    """Send steps to arq; a step whose enqueue fails is left to the next sweep."""
    for tid, seq in steps:
        try:
            await redis.enqueue_job("generate_take_job", tid, seq, _job_id=job_id(tid, seq),
                                    _defer_by=delay or None)
        except OUTAGE as exc:
            log.warning("take %s: could not enqueue (%s); a worker's sweep will deliver it", tid, exc)
            try:
                await unmark(ctx, tid, seq)
            except OUTAGE:
                pass


class ArqQueue:
    """Enqueue side of the arq path (the web server); the worker side is app.jobs.worker.
    Redis being down at start-up or at enqueue time is not an error here (see above)."""

    def __init__(self, ctx: JobContext, redis_url: str):
        self.ctx = ctx
        self.redis_url = redis_url
        self._pool = None

    async def _connect(self):
        if self._pool is None:
            from arq import create_pool
            from arq.connections import RedisSettings

            rs = RedisSettings.from_dsn(self.redis_url)
            rs.conn_timeout, rs.conn_retries = 2, 0
            self._pool = await create_pool(rs)
        return self._pool

    async def start(self) -> None:
        try:
            await self._connect()
        except OUTAGE as exc:
            log.warning("Redis is not reachable (%s); takes will be delivered by the workers' sweep", exc)

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def enqueue(self, take_ids: list[str]) -> None:
        steps = await mark_queued(self.ctx, take_ids)
        try:
            pool = await self._connect()
        except OUTAGE as exc:
            log.warning("Redis is not reachable (%s); %d takes left to the workers' sweep", exc, len(steps))
            for tid, seq in steps:
                await unmark(self.ctx, tid, seq)
            return
        await enqueue_steps(self.ctx, pool, steps)
