"""The arq worker (`takes worker`): runs takes' steps enqueued by the web server (and by the
steps themselves), sweeps for takes left behind, and outlives Redis and PostgreSQL outages.

- A job is one short step (`generate_take_job(take_id, seq)`); it enqueues the take's next
  step with `_defer_by`, so a take waiting for a provider slot holds no job slot. A take
  waiting at the provider gets no job at all: the worker's poller (app/jobs/polls.py) polls
  the due ones in batches and enqueues a step only for a take that needs one (done, failed).
- Job ids are `take:<id>:<step>` and a step only runs while the take's `step_seq` says so
  (app/jobs/leases.py), so a killed worker's "in progress" job is a no-op when arq retries
  it, and never blocks the take: the sweeper gives the take a new step number once its
  lease runs out. Job timeouts are short (STEP_TIMEOUT_S), so such markers expire soon.
- arq removes a job from its queue only when the job finishes. A worker killed after a step
  handed the take on (or ended it) but before arq finished the job leaves that job "in
  progress" until its marker expires (STEP_TIMEOUT_S + 10 s); each sweep drops such
  superseded jobs, so the queue holds the takes' live jobs and hardly more.
- `run_forever` restarts arq's worker with backoff when Redis or PostgreSQL goes away,
  instead of exiting; SIGTERM / SIGINT stop it for good.
"""

from __future__ import annotations

import asyncio
import logging
import time

from arq.connections import RedisSettings
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix, retry_key_prefix

from app.db import Database
from app.jobs.context import JobContext
from app.jobs.generate import OUTAGE, step_take
from app.jobs.leases import mark_queued, stale_takes, superseded
from app.jobs.polls import MAX_GAP_S, POLLED, poll_forever
from app.jobs.runner import enqueue_steps, job_id
from app.settings import Settings, get_settings
from app.webhooks import deliver_forever

log = logging.getLogger(__name__)


async def generate_take_job(ctx: dict, take_id: str, seq: int | None = None) -> str | None:
    jctx: JobContext = ctx["takes"]
    step = await step_take(jctx, take_id, seq)
    if step.delay is None:
        return step.status
    if step.status in POLLED:     # waiting at the provider: this worker's poller polls it when due
        if step.delay < MAX_GAP_S:
            ctx["poll_wakeup"].set()
    else:
        await enqueue_steps(jctx, ctx["redis"], [(take_id, step.seq)], step.delay)
    return step.status


async def sweep(jctx: JobContext, redis) -> int:
    """Requeue the takes nobody holds; returns how many jobs were sent. A take whose queued
    job never started is sent again under the same job id (a no-op while it still waits in
    the queue); one whose job was taken by a worker that died before claiming it, or whose
    worker died mid-step, gets its next step number (a new job id)."""
    fresh, same = {}, {}
    for t in await stale_takes(jctx):
        if not t.queued or await redis.exists(in_progress_key_prefix + job_id(t.take_id, t.seq)):
            fresh[t.take_id] = t.seq
        else:
            same[t.take_id] = t.seq
    steps = await mark_queued(jctx, list(fresh) + list(same), same_step=same)
    # The step a dead worker was running stays "in progress" in arq until its marker expires,
    # then runs as a no-op: drop it now, so the queue holds only the takes' live jobs.
    await _drop(redis, [job_id(tid, fresh[tid]) for tid, _ in steps if tid in fresh])
    await enqueue_steps(jctx, redis, steps)
    await drop_superseded(jctx, redis)
    return len(steps)


async def drop_superseded(jctx: JobContext, redis, limit: int = 1000) -> int:
    """Drop from arq's queue the jobs of steps that can only be no-ops now (app.jobs.leases.
    superseded): chiefly those a killed worker had in progress after their step handed the
    take on or ended it, which arq would keep until their marker expires. Dropping one that a
    live worker is still finishing is harmless: arq's own clean-up of it is then a no-op.
    The queue is read before the takes, so a step enqueued in between is never dropped."""
    steps = {}
    for raw in await redis.zrange(default_queue_name, 0, limit - 1):
        jid = raw.decode() if isinstance(raw, bytes) else raw
        prefix, _, rest = jid.partition(":")
        tid, _, seq = rest.rpartition(":")
        if prefix == "take" and tid and seq.isdigit():
            steps[(tid, int(seq))] = jid
    dead = [steps[s] for s in await superseded(jctx, list(steps))]
    await _drop(redis, dead)
    return len(dead)


async def _drop(redis, job_ids: list[str]) -> None:
    if job_ids:
        async with redis.pipeline(transaction=False) as pipe:
            for jid in job_ids:
                pipe.zrem(default_queue_name, jid)
                pipe.delete(job_key_prefix + jid, in_progress_key_prefix + jid, retry_key_prefix + jid)
            await pipe.execute()


async def _sweep_forever(ctx: dict) -> None:
    jctx: JobContext = ctx["takes"]
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await sweep(jctx, ctx["redis"])
        except asyncio.CancelledError:
            raise
        except OUTAGE as exc:
            log.warning("sweep failed: %s", exc)
        except Exception:
            log.exception("sweep failed")
        # A pass starts every SWEEP_INTERVAL_S, however long the last one took on a busy
        # machine: the pick-up bound (LEASE_S + SWEEP_INTERVAL_S) counts on that cadence.
        await asyncio.sleep(max(0.05, jctx.settings.sweep_interval_s - (loop.time() - started)))


async def startup(ctx: dict) -> None:
    settings = ctx.get("settings") or get_settings()
    ctx["takes"] = JobContext.create(settings, Database(settings))
    ctx["sweeper"] = asyncio.create_task(_sweep_forever(ctx))
    ctx["sender"] = asyncio.create_task(deliver_forever(ctx["takes"].db, settings))
    ctx["poll_wakeup"] = asyncio.Event()

    async def handoff(steps: list[tuple[str, int]]) -> None:
        await enqueue_steps(ctx["takes"], ctx["redis"], steps)

    ctx["poller"] = asyncio.create_task(poll_forever(ctx["takes"], handoff, ctx["poll_wakeup"]))
    log.info("takes worker %s started", ctx["takes"].worker_id)


async def shutdown(ctx: dict) -> None:
    for name in ("sweeper", "sender", "poller"):
        ctx[name].cancel()
    await asyncio.gather(ctx["sweeper"], ctx["sender"], ctx["poller"], return_exceptions=True)
    await ctx["takes"].aclose()
    await ctx["takes"].db.dispose()


def worker_settings(settings: Settings | None = None) -> type:
    settings = settings or get_settings()

    class WorkerSettings:
        functions = [generate_take_job]
        on_startup = startup
        on_shutdown = shutdown
        redis_settings = RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379")
        max_jobs = 50
        job_timeout = int(settings.step_timeout_s)   # one step, never a whole take
        keep_result = 0                   # nobody reads results; a take's state is in its row
        max_tries = 1000                  # a retried job is harmless: the step number decides
        queue_read_limit = 1000           # dead workers' markers can never fill what a worker reads
        poll_delay = 0.2                  # steps are short: pick the next one up soon

    return WorkerSettings


async def _run_once(settings: Settings) -> bool:
    """One life of arq's worker; True when it was stopped by a signal (not an outage)."""
    from arq.worker import create_worker

    worker = create_worker(worker_settings(settings), ctx={"settings": settings})
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        return True
    finally:
        try:
            await asyncio.wait_for(worker.close(), 30)
        except Exception as exc:   # the connection is gone already: close our side anyway
            log.info("worker close: %s", exc)
            if "sweeper" in worker.ctx and not worker.ctx["sweeper"].done():
                await shutdown(worker.ctx)
    return worker.main_task is not None and worker.main_task.cancelled()


def run_forever(settings: Settings) -> int:
    """`takes worker`: arq's worker, restarted with backoff (0.5 s doubling to 10 s) after
    an outage of Redis or PostgreSQL, until a signal stops it."""
    delay = 0.5
    while True:
        started = time.monotonic()
        try:
            if asyncio.run(_run_once(settings)):
                return 0
            log.warning("worker stopped; restarting in %.1fs", delay)
        except OUTAGE as exc:
            log.warning("worker lost its connection (%s: %s); reconnecting in %.1fs", type(exc).__name__, exc, delay)
        except KeyboardInterrupt:
            return 0
        if time.monotonic() - started > 60:
            delay = 0.5
        time.sleep(delay)
        delay = min(10.0, delay * 2)
