"""Runners: how a take's steps (app.jobs.generate.step_take) get run.

- InProcessRunner (no REDIS_URL): asyncio tasks inside the web server; the embedded default.
  A take waiting for a provider slot or a retry is a timer, not a sleeping task; a take
  waiting at the provider (`submitted`, `running`) waits in the database for the poller
  (app/jobs/polls.py), which polls the due ones in batches.
- ArqQueue (REDIS_URL set): the web server only enqueues; `takes worker` processes run the
  steps through arq (app.jobs.worker), each step a short job that enqueues the next with a
  delay. Job ids are `take:<take id>:<step>`, so enqueueing a step twice is a no-op. Takes
  waiting at the provider get no job: each worker's poller polls them in batches.

Both sweep: every few seconds, takes that are not finished and not held by a live lease are
(re)queued. That is how a take survives a crash, an outage, or a lost enqueue. If the web
server cannot reach Redis, the comparison is still answered (202): its takes are committed
with it, unheld, and the first sweep of a worker delivers them (the takes table is the
outbox).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from app.jobs.context import JobContext
from app.jobs.generate import OUTAGE, step_take
from app.jobs.leases import mark_queued, stale_takes, unmark
from app.jobs.polls import MAX_GAP_S, POLLED, make_due, poll_forever
from app.webhooks import deliver_forever

log = logging.getLogger(__name__)


def job_id(take_id: str, seq: int) -> str:
    return f"take:{take_id}:{seq}"


class Queue(Protocol):
    async def enqueue(self, take_ids: list[str]) -> None: ...
    async def wake(self, take_id: str) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class InProcessRunner:
    # Steps running at once, as arq's max_jobs: a thousand takes due together must not all ask
    # the database pool (20 connections) at once, or most time out waiting for one
    # (bench/fanout.py found 616 of 1,000 doing so). A waiting step holds nothing.
    max_steps = 50

    def __init__(self, ctx: JobContext):
        self.ctx = ctx
        self._slots = asyncio.Semaphore(self.max_steps)
        self._tasks: dict[str, asyncio.Task] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._sweeper: asyncio.Task | None = None
        self._sender: asyncio.Task | None = None
        self._poller: asyncio.Task | None = None
        self._wakeup = asyncio.Event()          # a take was handed to the poller, due soon
        self._polled: set[str] = set()          # takes handed to the poller (wait_idle)
        self._seqs: dict[str, int] = {}      # the step each timer will run
        self._woken: set[str] = set()        # running takes a webhook asked to poll again at once
        self._changes = 0                    # bumped whenever a take is scheduled or handed to the poller

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="takes-sweeper")
        self._sender = asyncio.create_task(deliver_forever(self.ctx.db, self.ctx.settings), name="webhook-sender")
        self._poller = asyncio.create_task(poll_forever(self.ctx, self._handoff, self._wakeup), name="takes-poller")

    async def _handoff(self, steps: list[tuple[str, int]]) -> None:
        """The poller hands these takes to their own step (done, failed, an error): run it now."""
        for tid, seq in steps:
            self._polled.discard(tid)
            self._schedule(tid, seq, 0.0)

    async def wake(self, take_id: str) -> None:
        """A provider's webhook spoke of this take: run its next step now, not at its timer."""
        if take_id in self._tasks:
            self._woken.add(take_id)
        elif take_id in self._timers:
            self._schedule(take_id, self._seqs[take_id], 0.0)
        else:   # waiting for the poller: due now
            await make_due(self.ctx, take_id)
            self._wakeup.set()

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks.values()) + [t for t in (self._sweeper, self._sender, self._poller) if t]
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
        self._seqs[take_id] = seq
        self._changes += 1
        self._timers[take_id] = asyncio.get_running_loop().call_later(delay, self._spawn, take_id, seq)

    def _spawn(self, take_id: str, seq: int) -> None:
        self._timers.pop(take_id, None)
        self._seqs.pop(take_id, None)
        if take_id in self._tasks:
            return   # a step of it is running; the step's lease keeps this one out anyway
        self._tasks[take_id] = asyncio.create_task(self._run(take_id, seq), name=f"take-{take_id}")

    async def _run(self, take_id: str, seq: int) -> None:
        try:
            async with self._slots:
                step = await step_take(self.ctx, take_id, seq)
        finally:
            self._tasks.pop(take_id, None)
        woken = take_id in self._woken
        self._woken.discard(take_id)
        if step.delay is None:
            return
        if step.status in POLLED:
            self._polled.add(take_id)        # the poller finds it in the database when due
            self._changes += 1
            if woken:
                try:
                    await make_due(self.ctx, take_id)
                except OUTAGE:
                    pass   # its poll comes at its time instead
            if woken or step.delay < MAX_GAP_S:
                self._wakeup.set()
        else:
            self._schedule(take_id, step.seq, 0.0 if woken else step.delay)

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
        """Tests: wait until no take has a step running or due.

        Idle is judged across an await (the database read of the polled takes), so a take the
        poller hands to its step during that read must not slip through: the answer counts only
        if nothing was scheduled or handed over meanwhile."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            if not self._tasks and not self._timers:
                before = self._changes
                if not await self._still_polled() and not self._tasks and not self._timers \
                        and before == self._changes:
                    return
            if loop.time() > end:
                raise TimeoutError(f"takes still running: {list(self._tasks) + list(self._timers) + list(self._polled)}")
            await asyncio.sleep(0.05)

    async def _still_polled(self) -> bool:
        """Tests: whether a take handed to the poller still waits at its provider."""
        if not self._polled:
            return False
        from sqlalchemy import select

        from app.models import Take

        asked = set(self._polled)
        async with self.ctx.db.session() as s:
            rows = await s.execute(select(Take.id).where(Take.id.in_(asked), Take.status.in_(POLLED)))
            waiting = {tid for (tid,) in rows}
        self._polled -= asked - waiting      # takes handed over during the read stay
        return bool(self._polled)


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

    async def wake(self, take_id: str) -> None:
        """Move the take's waiting step to the front: its arq job (take:<id>:<step>) is in the
        queue with a deferred score; setting the score to now makes a worker run it next. No
        job waiting (a step is running): that step sees `hook_seen_at` and asks for no delay."""
        from arq.constants import default_queue_name
        from sqlalchemy import select

        from app.models import Take

        try:
            await make_due(self.ctx, take_id)   # waiting for a worker's poller: due now
        except OUTAGE as exc:
            log.warning("take %s: could not make its poll due (%s)", take_id, exc)
        async with self.ctx.db.session() as s:
            seq = (await s.execute(select(Take.step_seq).where(Take.id == take_id))).scalar_one_or_none()
        if seq is None:
            return
        try:
            pool = await self._connect()
            await pool.zadd(default_queue_name, {job_id(take_id, seq): int(time.time() * 1000)}, xx=True)
        except OUTAGE as exc:
            log.warning("take %s: could not wake its step (%s); it runs at its reconcile time", take_id, exc)
