"""The poller: takes waiting at the provider (`submitted`, `running`) are polled in batches,
not one job (or timer) per take and poll (issue 14: 10,000 takes in flight on one worker).

A take waiting for the poller is held by it (`lease_owner = "poller"`, until its next poll is
due plus LEASE_S). One pass: one UPDATE claims up to `limit` due ones
under one per-pass lease token, the provider's status calls run concurrently, and one batched
UPDATE writes every take still waiting (status, progress, counters) and hands it back to the
queue for its next poll, with the next step number. A pass costs a handful of round trips for
hundreds of takes, where a step per take cost about fifteen each.

A take whose poll says anything else (done, failed, cancelled, an error that is not a retry,
its deadline passed) is handed to its own step instead (held by the queue, which passes never
claim: app.jobs.generate.step_take, through the runner's `handoff`), which polls once more and does what the state machine does — the
poller never ends a take, downloads or fails anything, so the crash rules stay in one place.

Why this is as safe as the step it replaces:
- the claim is one conditional UPDATE (held by the poller, status still polled), so two
  workers' passes never hold a take together; it moves `step_seq` on, so a stale job of the
  take (a dead worker's, retried by arq) is a no-op, as with any step;
- the batched write only touches rows still held by this pass's token and not ended, so a
  take cancelled meanwhile, or taken over after this pass's lease ran out, is left alone;
- a worker killed mid-pass leaves its takes with an expiring lease: the sweeper hands them on
  (LEASE_S + SWEEP_INTERVAL_S), exactly as a killed step's take. The lease token starts with
  the worker id, as a step's does.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, or_, select, update

from app.jobs.context import JobContext
from app.jobs.leases import POLL_OWNER, POLLED, QUEUE_OWNER
from app.models import Take, utcnow
from app.providers.base import ProviderError

log = logging.getLogger(__name__)

__all__ = ["POLLED", "claim_due", "make_due", "poll_due", "poll_forever", "write_back"]
BATCH = 500                           # takes per pass (one claim, one write)
CONCURRENT_POLLS = 100                # status calls in flight at once within a pass
MIN_GAP_S, MAX_GAP_S = 0.05, 1.0      # a pass at most every 50 ms, at least every second

Handoff = Callable[[list[tuple[str, int]]], Awaitable[None]]


@dataclass
class Polled:
    """What the poll of one claimed take came to: `values` to write while it waits, with its
    next poll `delay` seconds away; or `step` (None values): its own step takes over."""

    take_id: str
    values: dict | None = None
    delay: float = 0.0


def _t():
    return Take.__table__.c


async def claim_due(ctx: JobContext, limit: int = BATCH) -> tuple[str, list]:
    """Claim up to `limit` polled takes whose next step is due (the queue's lease on a take is
    its due time plus LEASE_S): one UPDATE … RETURNING, under a fresh token for this pass."""
    now = utcnow()
    lease = timedelta(seconds=ctx.settings.lease_s)
    token = f"{ctx.worker_id}.p{uuid.uuid4().hex[:15]}"
    c = _t()
    due = (c.status.in_(POLLED), c.lease_owner == POLL_OWNER, c.lease_expires_at <= now + lease)
    ids = select(c.id).where(*due).order_by(c.lease_expires_at).limit(limit)
    async with ctx.db.session() as s:
        if s.bind.dialect.name == "postgresql":
            ids = ids.with_for_update(skip_locked=True)   # two workers' passes do not queue on each other
        rows = (await s.execute(
            update(Take.__table__).where(c.id.in_(ids.scalar_subquery()), *due)
            .values(lease_owner=token, lease_expires_at=now + lease, step_seq=c.step_seq + 1)
            .returning(c.id, c.model_id, c.status, c.remote_id, c.remote_meta, c.job_state, c.progress,
                       c.submitted_at, c.created_at))).all()
        await s.commit()
    return token, rows


async def poll_one(ctx: JobContext, row) -> Polled:
    """One status call for a claimed take, judged as app.jobs.generate's poll step judges it
    while the job is still waiting; anything else is left to the take's own step."""
    settings = ctx.settings
    model = ctx.catalog.get(row.model_id)
    provider = ctx.providers.get(model.provider) if model else None
    deadline = (row.submitted_at or row.created_at) + timedelta(seconds=settings.take_timeout_s)
    if provider is None or not provider.available() or utcnow() > deadline or not row.remote_id:
        return Polled(row.id)
    state, meta = row.job_state or {}, row.remote_meta or {}
    try:
        status = await provider.poll(model, row.remote_id, meta)
    except ProviderError as err:
        if not err.retryable:
            return Polled(row.id)
        from app.jobs.generate import _backoff

        errors = state.get("poll_errors", 0) + 1
        wait = err.retry_after if err.retry_after is not None else _backoff(
            errors, settings.poll_interval_s, settings.poll_max_interval_s)
        if utcnow() + timedelta(seconds=wait) > deadline:
            return Polled(row.id)
        log.info("take %s: poll error (%s), retrying in %.1fs", row.id, err, wait)
        return Polled(row.id, {"status": row.status, "progress": row.progress, "job_state": {**state, "poll_errors": errors}},
                      wait)
    except Exception as exc:   # an outage or a bug: the take's own step sees it and says so
        log.warning("take %s: poll failed in a batch (%s: %s); its own step takes over", row.id,
                    type(exc).__name__, exc)
        return Polled(row.id)
    if status.state not in ("queued", "running"):
        return Polled(row.id)
    polls = state.get("polls", 0)
    new = "running" if status.state == "running" else "submitted"
    if meta.get("hook"):
        delay = settings.hook_reconcile_s   # a webhook wakes it sooner (app/hooks.py)
    else:
        interval = min(settings.poll_max_interval_s, settings.poll_interval_s * 1.5 ** polls)
        delay = status.poll_after if status.poll_after is not None else interval
    return Polled(row.id, {"status": new, "progress": status.progress,
                           "job_state": {**state, "polls": polls + 1, "poll_errors": 0}}, delay)


async def write_back(ctx: JobContext, token: str, results: list[Polled]) -> list[tuple[str, int]]:
    """One transaction: the waiting takes written and handed back to the queue, due after
    their delay (one batched UPDATE); the others handed to the queue due now, for their own
    step. Returns those (take id, step number) steps. Rows no longer held by `token`, or no
    longer waiting at the provider (cancelled meanwhile), are untouched by either."""
    now = utcnow()
    lease = ctx.settings.lease_s
    c = _t()
    # plain comparisons, no IN (…): an executemany cannot expand a list parameter
    mine = (c.lease_owner == token, or_(*(c.status == st for st in POLLED)))
    waiting = [{"b_id": r.take_id, "b_status": r.values["status"], "b_progress": r.values["progress"],
                "b_state": r.values["job_state"], "b_until": now + timedelta(seconds=max(0.0, r.delay) + lease)}
               for r in results if r.values is not None]
    steps = [r.take_id for r in results if r.values is None]
    async with ctx.db.session() as s:
        if waiting:
            await s.execute(
                update(Take.__table__).where(c.id == bindparam("b_id"), *mine)
                .values(status=bindparam("b_status"), progress=bindparam("b_progress"),
                        job_state=bindparam("b_state"), lease_owner=POLL_OWNER, lease_expires_at=bindparam("b_until"),
                        step_seq=c.step_seq + 1, updated_at=now),
                waiting)
        handed = []
        if steps:
            handed = (await s.execute(
                update(Take.__table__).where(c.id.in_(steps), *mine)
                .values(lease_owner=QUEUE_OWNER, lease_expires_at=now + timedelta(seconds=lease),
                        step_seq=c.step_seq + 1)
                .returning(c.id, c.step_seq))).all()
        await s.commit()
    for w in waiting:
        await ctx.events.take_changed(ctx.db, w["b_id"])   # open pages see the progress (never raises)
    return [(tid, seq) for tid, seq in handed]


async def poll_due(ctx: JobContext, handoff: Handoff, limit: int = BATCH) -> int:
    """One pass; returns how many takes it claimed."""
    token, rows = await claim_due(ctx, limit)
    if not rows:
        return 0
    gate = asyncio.Semaphore(CONCURRENT_POLLS)

    async def one(row) -> Polled:
        async with gate:
            return await poll_one(ctx, row)

    results = await asyncio.gather(*(one(r) for r in rows))
    steps = await write_back(ctx, token, list(results))
    if steps:
        await handoff(steps)
    log.info("takes polled in a batch: %d (%d handed to their own step)", len(rows), len(steps))
    return len(rows)


async def next_due_in(ctx: JobContext) -> float | None:
    """Seconds until the earliest polled take is due (None: none waits)."""
    c = _t()
    async with ctx.db.session() as s:
        first = (await s.execute(select(func.min(c.lease_expires_at))
                                 .where(c.status.in_(POLLED), c.lease_owner == POLL_OWNER))).scalar_one_or_none()
    if first is None:
        return None
    return (first - utcnow()).total_seconds() - ctx.settings.lease_s


async def make_due(ctx: JobContext, take_id: str) -> None:
    """A webhook spoke of this take: if it waits for the poller, its poll is due now."""
    now = utcnow()
    c = _t()
    async with ctx.db.session() as s:
        await s.execute(update(Take.__table__).where(c.id == take_id, c.lease_owner == POLL_OWNER,
                                                     c.status.in_(POLLED))
                        .values(lease_expires_at=now + timedelta(seconds=ctx.settings.lease_s)))
        await s.commit()


async def poll_forever(ctx: JobContext, handoff: Handoff, wakeup: asyncio.Event) -> None:
    """Passes until cancelled: at once while a pass was full, else when the next take is due
    (at least every MAX_GAP_S, for takes other processes handed back) or `wakeup` is set (a
    step just handed a take over), never more often than every MIN_GAP_S."""
    from app.jobs.generate import OUTAGE

    while True:
        gap = MIN_GAP_S
        try:
            if await poll_due(ctx, handoff) >= BATCH:
                continue
            due = await next_due_in(ctx)
            gap = MAX_GAP_S if due is None else min(MAX_GAP_S, max(MIN_GAP_S, due))
        except asyncio.CancelledError:
            raise
        except OUTAGE as exc:
            log.warning("poll pass failed: %s", exc)
            gap = MAX_GAP_S
        except Exception:
            log.exception("poll pass failed")
            gap = MAX_GAP_S
        try:
            await asyncio.wait_for(wakeup.wait(), gap)
            await asyncio.sleep(MIN_GAP_S)
        except asyncio.TimeoutError:
            pass
        wakeup.clear()
