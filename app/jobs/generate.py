"""generate_take: the take state machine, shared by the in-process runner and arq workers.

    queued → submitting → submitted → running → downloading → processing → ready
                                                     (failed | cancelled from any state)

Crash safety rests on two rules:
1. The remote job id is committed before anything else happens after submit returns, and a
   take is only ever submitted from `queued`. A take found in `submitting` (the process died
   during the create call) is never blindly re-submitted: the provider's `reconcile` looks
   for the job by our client key where the provider has one, otherwise the take fails with
   "outcome unknown, may have been billed" so a person decides. A create call that comes back
   "outcome_unknown" (a 5xx, a reply lost after sending) is the same situation while alive,
   and gets the same treatment.
2. Work on a take is guarded by a lease in the row (owner + expiry) claimed with a
   conditional UPDATE, so two workers never drive the same take; a dead worker's lease
   expires and the sweeper hands the take to a live one, which resumes by polling.

Two consequences that are easy to miss:
- A submit can succeed after the take stopped being ours (a reviewer cancelled it, or the
  lease moved on while the create call was in flight). Nobody will ever poll that remote job,
  so it is cancelled at the provider straight away and its id is still written on the row:
  a paid job is never left running unrecorded.
- Waiting is bounded everywhere: for a free per-provider slot, for `reconcile` through 429s
  and 5xx, and for the result, all by `take_timeout_s`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from datetime import timedelta

from sqlalchemy import func, or_, select, text, update

from app import delivery, media
from app.comparisons import generation_request
from app.jobs.context import JobContext
from app.models import TERMINAL_STATES, Comparison, Take, utcnow
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission

log = logging.getLogger(__name__)

QUEUE_OWNER = "queue"          # lease owner while a take waits in a queue
IN_FLIGHT = ("submitting", "submitted", "running")


class LeaseLost(Exception):
    """Another worker took the take over (ours expired): stop without touching it."""


async def claim(ctx: JobContext, take_id: str) -> bool:
    now = utcnow()
    async with ctx.db.session() as s:
        res = await s.execute(
            update(Take)
            .where(Take.id == take_id, Take.status.not_in(TERMINAL_STATES))
            .where(or_(Take.lease_owner.is_(None), Take.lease_owner == QUEUE_OWNER,
                       Take.lease_owner == ctx.worker_id, Take.lease_expires_at < now))
            .values(lease_owner=ctx.worker_id, lease_expires_at=now + timedelta(seconds=ctx.settings.lease_s))
        )
        await s.commit()
        return res.rowcount == 1


async def _renew(ctx: JobContext, take_id: str) -> None:
    now = utcnow()
    async with ctx.db.session() as s:
        res = await s.execute(
            update(Take).where(Take.id == take_id, Take.lease_owner == ctx.worker_id)
            .values(lease_expires_at=now + timedelta(seconds=ctx.settings.lease_s))
        )
        await s.commit()
    if res.rowcount != 1:
        raise LeaseLost(take_id)


async def _release(ctx: JobContext, take_id: str) -> None:
    async with ctx.db.session() as s:
        await s.execute(update(Take).where(Take.id == take_id, Take.lease_owner == ctx.worker_id)
                        .values(lease_owner=None, lease_expires_at=None))
        await s.commit()


async def _set(ctx: JobContext, take_id: str, **values) -> None:
    """Write state, but only while we hold the lease and the take was not cancelled meanwhile."""
    async with ctx.db.session() as s:
        res = await s.execute(
            update(Take).where(Take.id == take_id, Take.lease_owner == ctx.worker_id,
                               Take.status.not_in(TERMINAL_STATES))
            .values(updated_at=utcnow(), **values)
        )
        await s.commit()
    if res.rowcount != 1:
        raise LeaseLost(take_id)


async def _load(ctx: JobContext, take_id: str) -> tuple[Take, Comparison]:
    async with ctx.db.session() as s:
        take = await s.get(Take, take_id)
        comparison = await s.get(Comparison, take.comparison_id)
        return take, comparison


async def _sleep(ctx: JobContext, take_id: str, seconds: float) -> None:
    """Wait between polls (the heartbeat keeps the lease meanwhile)."""
    await asyncio.sleep(max(0.0, seconds))


def build_request(ctx: JobContext, take: Take, comparison: Comparison, model) -> GenerationRequest:
    """The request the form already checked (app.comparisons.generation_request), image on disk."""
    image = ctx.storage.path(comparison.source_image) if comparison.source_image else None
    return generation_request(comparison.typed_params, model, prompt=comparison.prompt, take_id=take.id, image=image)


def _backoff(attempt: int, base: float, cap: float) -> float:
    return min(cap, base * (2 ** attempt)) * random.uniform(0.8, 1.2)


async def _fail(ctx: JobContext, take_id: str, code: str, message: str) -> None:
    await _set(ctx, take_id, status="failed", error_code=code, error_message=message[:4000],
               finished_at=utcnow(), progress=None)


async def generate_take(ctx: JobContext, take_id: str) -> str | None:
    """Drive one take as far as it goes; returns its final status (None when not ours)."""
    if not await claim(ctx, take_id):
        return None
    driver = asyncio.create_task(_drive(ctx, take_id))
    heartbeat = asyncio.create_task(_heartbeat(ctx, take_id, driver))
    try:
        return await driver
    except asyncio.CancelledError:
        if not _lost(heartbeat):
            raise  # we are being shut down
        log.info("take %s: lease lost, leaving it to its new owner", take_id)
        return None
    except LeaseLost:
        log.info("take %s: lease lost, leaving it to its new owner", take_id)
        return None
    except Exception as exc:  # a bug or an unexpected failure: show it on the take, never hang
        log.exception("take %s failed unexpectedly", take_id)
        try:
            await _fail(ctx, take_id, "provider_error", f"internal error: {type(exc).__name__}: {exc}")
        except LeaseLost:
            pass
        return "failed"
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        if not driver.done():
            driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
        await _release(ctx, take_id)


def _lost(heartbeat: asyncio.Task) -> bool:
    return heartbeat.done() and not heartbeat.cancelled() and isinstance(heartbeat.exception(), LeaseLost)


async def _heartbeat(ctx: JobContext, take_id: str, driver: asyncio.Task) -> None:
    """Keep the lease fresh for as long as this worker drives the take (downloads and media
    processing included); if the lease was lost anyway, stop the driver at once so two
    workers never work on one take."""
    try:
        while True:
            await asyncio.sleep(max(0.05, ctx.settings.lease_s / 3))
            await _renew(ctx, take_id)
    except LeaseLost:
        driver.cancel()
        raise


async def _drive(ctx: JobContext, take_id: str) -> str:
    """The take from wherever it is to its end: submit (or find) it, poll it, fetch the clip."""
    take, comparison = await _load(ctx, take_id)
    model = ctx.catalog.get(take.model_id)
    provider = ctx.providers.get(model.provider) if model else None
    if model is None or provider is None:
        await _fail(ctx, take_id, "invalid_request", f"model {take.model_id} is not in the catalog or has no adapter")
        return "failed"
    if not provider.available():
        await _fail(ctx, take_id, "auth", f"{provider.label or provider.name} is not configured: set {', '.join(provider.missing_keys())}")
        return "failed"
    req = build_request(ctx, take, comparison, model)
    if take.status in ("queued", "submitting") and not await _start(ctx, take, model, provider, req):
        return "failed"
    # submitted / running / downloading / processing: resume by polling (idempotent).
    status = await _poll_to_end(ctx, take, model, provider)
    if isinstance(status, str):
        return status
    if status.state == "cancelled":
        await _set(ctx, take_id, status="cancelled", finished_at=utcnow())
        return "cancelled"
    if status.state == "failed":
        err = status.error or ProviderError("provider_error", "the provider reported a failure without a reason")
        await _fail(ctx, take_id, err.code, err.message)
        return "failed"
    return await _finish(ctx, take_id, model, provider, status)


async def _start(ctx: JobContext, take: Take, model, provider, req: GenerationRequest) -> bool:
    """Get the take a remote job: submit a queued one; for one found in `submitting` (a crash
    mid-create) look for it first. Sets take.remote_id; False when the take has failed."""
    if take.status == "queued":
        sub = await _submit(ctx, take, model, provider, req)
    else:
        try:
            sub = await _reconcile(ctx, take.id, model, provider, req)
        except ProviderError as err:
            await _fail(ctx, take.id, err.code, f"{err.message} (while checking whether an interrupted submit reached "
                        f"{provider.label or provider.name}: the outcome is unknown and it may have been billed)")
            return False
        if sub is None and provider.resubmit_safe_when_not_found:
            log.info("take %s: not found at %s after a crash; submitting it (safe for this provider)", take.id, provider.name)
            sub = await _submit(ctx, take, model, provider, req)
        elif sub is None:
            await _fail(ctx, take.id, "outcome_unknown",
                        "The worker stopped while submitting this take; the outcome is unknown and it may have "
                        "been billed. Check the provider's dashboard, then re-roll if needed.")
            return False
        else:
            await _set(ctx, take.id, status="submitted", remote_id=sub.remote_id, remote_meta=sub.meta,
                       submitted_at=take.submitted_at or utcnow())
    if sub is None:
        return False
    take.remote_id, take.remote_meta = sub.remote_id, sub.meta
    return True


async def _poll_to_end(ctx: JobContext, take: Take, model, provider) -> JobStatus | str:
    """Poll until the provider says done (its final JobStatus), or the take ended here first
    ("cancelled" by a reviewer, "failed" on a refusal or the take timeout)."""
    settings, take_id = ctx.settings, take.id
    deadline = (take.submitted_at or utcnow()) + timedelta(seconds=settings.take_timeout_s)
    errors = 0
    interval = settings.poll_interval_s
    while True:
        if await _current_status(ctx, take_id) == "cancelled":
            await _safe_cancel(provider, model, take)
            return "cancelled"
        try:
            status = await provider.poll(model, take.remote_id, take.remote_meta or {})
            errors = 0
        except ProviderError as err:
            if not err.retryable:
                await _fail(ctx, take_id, err.code, err.message)
                return "failed"
            errors += 1
            wait = err.retry_after if err.retry_after is not None else _backoff(errors, settings.poll_interval_s, settings.poll_max_interval_s)
            log.info("take %s: poll error (%s), retrying in %.1fs", take_id, err, wait)
            if utcnow() + timedelta(seconds=wait) > deadline:
                await _fail(ctx, take_id, "timeout", f"gave up after repeated provider errors: {err.message}")
                return "failed"
            await _sleep(ctx, take_id, wait)
            continue
        if status.state not in ("queued", "running"):
            return status
        if utcnow() > deadline:
            await _safe_cancel(provider, model, take)
            await _fail(ctx, take_id, "timeout", f"no result after {settings.take_timeout_s:.0f} s")
            return "failed"
        await _set(ctx, take_id, status="running" if status.state == "running" else "submitted",
                   progress=status.progress)
        wait = status.poll_after if status.poll_after is not None else interval
        interval = min(settings.poll_max_interval_s, interval * 1.5)
        await _sleep(ctx, take_id, wait)


async def _reconcile(ctx: JobContext, take_id: str, model, provider, req: GenerationRequest) -> Submission | None:
    """`provider.reconcile`, retried like polling: a 429 or a 5xx while looking for the job says
    nothing about whether it exists, so it must not turn into a terminal failure (nor into a
    blind re-submit). Non-retryable errors, and retries past the take timeout, are raised."""
    settings = ctx.settings
    deadline = utcnow() + timedelta(seconds=settings.take_timeout_s)
    errors = 0
    while True:
        try:
            return await provider.reconcile(model, req)
        except ProviderError as err:
            if not err.retryable:
                raise
            errors += 1
            wait = err.retry_after if err.retry_after is not None else _backoff(errors, settings.poll_interval_s, settings.poll_max_interval_s)
            log.info("take %s: reconcile error (%s), retrying in %.1fs", take_id, err, wait)
            if utcnow() + timedelta(seconds=wait) > deadline:
                raise ProviderError("timeout", f"gave up after repeated provider errors: {err.message}") from err
            await _sleep(ctx, take_id, wait)


async def _current_status(ctx: JobContext, take_id: str) -> str | None:
    async with ctx.db.session() as s:
        return (await s.execute(select(Take.status).where(Take.id == take_id))).scalar_one_or_none()


async def _safe_cancel(provider, model, take: Take) -> None:
    if take.remote_id:
        try:
            await provider.cancel(model, take.remote_id, take.remote_meta or {})
        except Exception as exc:  # best effort
            log.warning("cancel of %s failed: %s", take.remote_id, exc)


async def _claim_slot(ctx: JobContext, take: Take) -> bool:
    """queued → submitting, only while the provider has fewer than its limit of takes in flight.

    The count and the transition are one conditional UPDATE; on PostgreSQL a transaction-scoped
    advisory lock per provider serialises concurrent claimers (SQLite's single writer does that
    by itself), so the limit holds across workers."""
    limit = ctx.settings.concurrency_for(take.provider)
    busy = (
        select(func.count()).select_from(Take.__table__.alias("other"))
        .where(text("other.provider = :prov"), text("other.status IN ('submitting', 'submitted', 'running')"),
               text("other.id <> :me"))   # a take sent again (crash, unknown outcome) is not its own rival
        .scalar_subquery()
    )
    async with ctx.db.session() as s:
        if s.bind.dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(take.provider.encode()).digest()[:8], "big", signed=True)
            await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        res = await s.execute(
            update(Take)
            .where(Take.id == take.id, Take.lease_owner == ctx.worker_id, Take.status.in_(("queued", "submitting")))
            .where(busy < limit)
            .values(status="submitting", progress=None, updated_at=utcnow()),
            {"prov": take.provider, "me": take.id},
        )
        await s.commit()
        return res.rowcount == 1


class NoSlot(Exception):
    """The provider stayed at its concurrency limit for the whole take timeout."""


async def _wait_for_slot(ctx: JobContext, take: Take, deadline) -> None:
    """Claim a slot, waiting while the provider is at its limit, but not past `deadline`: a
    provider whose slots never free up (stuck takes, a limit of 0) must not hold a take in
    `queued` forever with nothing on screen saying why."""
    while not await _claim_slot(ctx, take):
        status = await _current_status(ctx, take.id)
        if status not in ("queued", "submitting"):
            raise LeaseLost(f"take {take.id} is {status} while waiting for a slot")   # e.g. cancelled by a reviewer
        if utcnow() >= deadline:
            raise NoSlot(f"no free slot at {take.provider} within {ctx.settings.take_timeout_s:g} s: "
                         f"{ctx.settings.concurrency_for(take.provider)} takes were in flight there the whole time")
        await _sleep(ctx, take.id, min(1.0, ctx.settings.poll_interval_s))


async def _submit(ctx: JobContext, take: Take, model, provider, req: GenerationRequest) -> Submission | None:
    attempt = 0
    slot_deadline = utcnow() + timedelta(seconds=ctx.settings.take_timeout_s)
    while True:
        try:
            await _wait_for_slot(ctx, take, slot_deadline)
        except NoSlot as exc:
            await _fail(ctx, take.id, "timeout", str(exc))
            return None
        sub = None
        try:
            sub = await provider.submit(model, req)
        except ProviderError as err:
            if err.retryable and err.code != "outcome_unknown" and attempt < 5:
                # The provider said no before creating anything (429 / 503): safe to ask again.
                attempt += 1
                await _set(ctx, take.id, status="queued", error_message=f"waiting: {err.message}")
                wait = err.retry_after if err.retry_after is not None else _backoff(attempt, ctx.settings.poll_interval_s, ctx.settings.poll_max_interval_s)
                await _sleep(ctx, take.id, wait)
                continue
            if err.code == "outcome_unknown":
                # Same situation as a crash in `submitting`, so the same rule: look for the job by
                # our client key; re-submit only where not finding it proves it was never made.
                sub = await _look_for(ctx, take, model, provider, req)
                if sub is None and provider.resubmit_safe_when_not_found and attempt < 5:
                    attempt += 1
                    log.info("take %s: %s; not found at %s, submitting again (safe for this provider)",
                             take.id, err.message, provider.name)
                    continue
            if sub is None:
                await _fail_submit(ctx, take, err)
                return None
        except Exception as exc:
            await _fail(ctx, take.id, "outcome_unknown",
                        f"submit failed after the request may have reached the provider ({type(exc).__name__}: {exc}); "
                        "it may have been billed")
            return None
        # Commit the remote id before anything else: this is what makes a crash safe.
        try:
            await _set(ctx, take.id, status="submitted", remote_id=sub.remote_id, remote_meta=sub.meta,
                       submitted_at=utcnow(), error_message=None, progress=0.0)
        except LeaseLost:
            # shielded: the heartbeat may notice the lost lease and cancel this driver meanwhile
            await asyncio.shield(_orphaned_submission(ctx, take, model, provider, sub))
            raise
        return sub


async def _look_for(ctx: JobContext, take: Take, model, provider, req: GenerationRequest) -> Submission | None:
    try:
        return await _reconcile(ctx, take.id, model, provider, req)
    except ProviderError as exc:
        log.info("take %s: could not look for an uncertain submit at %s: %s", take.id, provider.name, exc)
        return None


async def _fail_submit(ctx: JobContext, take: Take, err: ProviderError) -> None:
    message = err.message
    if err.code == "outcome_unknown" and "billed" not in message:
        # every adapter says why; the user also needs to know what it may cost
        message += "; the outcome is unknown and it may have been billed: check the provider's dashboard before re-rolling"
    await _fail(ctx, take.id, err.code, message)


async def _orphaned_submission(ctx: JobContext, take: Take, model, provider, sub: Submission) -> None:
    """The create call succeeded, but meanwhile the take was cancelled or its lease moved on,
    so it cannot be written as submitted and nobody would ever poll this remote job. Stop it at
    the provider (best effort) and still record its id on the row, if the row exists and holds
    no other remote id, so the paid job is never invisible. Cancelling also in the lease case
    is deliberate: the new owner found the take in `submitting` and either fails it as
    "outcome unknown" or finds this very job by our client key and sees it cancelled; letting
    it run unowned is the only outcome that could bill for a clip nobody gets."""
    log.warning("take %s: submitted as %s at %s, but the take is no longer ours (cancelled or lease lost); "
                "cancelling it there", take.id, sub.remote_id, provider.name)
    try:
        await provider.cancel(model, sub.remote_id, sub.meta or {})
    except Exception as exc:  # best effort
        log.warning("take %s: cancel of orphaned %s failed: %s", take.id, sub.remote_id, exc)
    async with ctx.db.session() as s:
        await s.execute(update(Take).where(Take.id == take.id, Take.remote_id.is_(None))
                        .values(remote_id=sub.remote_id, remote_meta=sub.meta, submitted_at=utcnow(), updated_at=utcnow()))
        await s.commit()


async def _finish(ctx: JobContext, take_id: str, model, provider, status: JobStatus) -> str:
    storage = ctx.storage
    original_key = f"takes/{take_id}/original.mp4"
    await _set(ctx, take_id, status="downloading", progress=1.0)
    dest = storage.path(original_key)
    for attempt in range(4):
        try:
            await provider.download(model, status, dest, ctx.settings.max_clip_bytes)
            break
        except ProviderError as err:
            if err.retryable and attempt < 3:
                await _sleep(ctx, take_id, err.retry_after or _backoff(attempt, 1.0, 10.0))
                continue
            await _fail(ctx, take_id, "download", err.message)
            return "failed"
    await _set(ctx, take_id, status="processing")
    try:
        info = await asyncio.to_thread(media.probe, dest)
    except Exception as exc:
        await _fail(ctx, take_id, "provider_error", f"the downloaded file is not a playable video: {exc}")
        return "failed"
    ext, _ = media.file_type(info)
    if ext != "mp4":
        # Kept under its real extension (Matroska, AVI, MPEG-TS …), so a download is what it says.
        original_key = f"takes/{take_id}/original.{ext}"
        dest = await asyncio.to_thread(dest.replace, storage.path(original_key))
    poster_key = f"takes/{take_id}/poster.jpg"
    await asyncio.to_thread(media.make_poster, dest, storage.path(poster_key))
    proxy_key = None
    reasons = media.proxy_reasons(info)
    if reasons:
        proxy_key = f"takes/{take_id}/proxy.mp4"
        await asyncio.to_thread(media.make_proxy, dest, storage.path(proxy_key), info)
        info["proxy_reasons"] = reasons
    take, comparison = await _load(ctx, take_id)
    params = comparison.typed_params
    duration = info["duration_s"] or params.duration_for(take.model_id)
    await _set(
        ctx, take_id, status="ready", clip_key=original_key, proxy_key=proxy_key, poster_key=poster_key,
        media_info=info, duration_s=duration, fps=info["fps"], width=info["width"], height=info["height"],
        has_audio=info["has_audio"], finished_at=utcnow(), progress=1.0, error_code=None, error_message=None,
        cost_usd=model.price_for(duration, params.audio, params.resolution or None),
        **delivery.take_fields(info, model, params, status.meta, comparison.prompt),
    )
    return "ready"


async def stale_take_ids(ctx: JobContext, limit: int = 200) -> list[str]:
    """Non-terminal takes nobody holds: new ones whose enqueue was lost, or a dead worker's."""
    now = utcnow()
    async with ctx.db.session() as s:
        rows = await s.execute(
            select(Take.id).where(Take.status.not_in(TERMINAL_STATES))
            .where(or_(Take.lease_owner.is_(None), Take.lease_expires_at < now))
            .order_by(Take.created_at).limit(limit)
        )
        return list(rows.scalars())


async def mark_queued(ctx: JobContext, take_ids: list[str]) -> list[str]:
    """Hand takes to the queue: only those still unheld are returned (and marked as queued)."""
    now = utcnow()
    out = []
    async with ctx.db.session() as s:
        for tid in take_ids:
            res = await s.execute(
                update(Take).where(Take.id == tid, Take.status.not_in(TERMINAL_STATES))
                .where(or_(Take.lease_owner.is_(None), Take.lease_expires_at < now))
                .values(lease_owner=QUEUE_OWNER, lease_expires_at=now + timedelta(seconds=ctx.settings.lease_s))
            )
            if res.rowcount == 1:
                out.append(tid)
        await s.commit()
    return out
