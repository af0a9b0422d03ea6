"""The take state machine, one short step at a time, shared by the in-process runner and arq.

    queued → submitting → submitted → running → downloading → processing → ready
                                                     (failed | cancelled from any state)

A step does one thing and returns when the next one is due: submit (or wait for a provider
slot), look for an interrupted submit, poll once, or — when the provider says done — fetch
and process the clip. Between steps the take holds no worker: the runner enqueues its next
step with a delay (app/jobs/runner.py, app/jobs/worker.py).

Crash safety rests on three rules:
1. **The right to submit is one atomic transition**: `queued → submitting` in a single
   conditional UPDATE that requires our per-attempt lease token and writes it as
   `submit_token` (app/jobs/leases.py has the leases). Only that attempt calls the
   provider's create, and only it may record the remote job it got. Nothing else ever
   submits, so two copies of a job, in one process or in two, cannot both submit.
2. The remote job id is committed before anything else happens after submit returns. A
   take found in `submitting` (the process died during the create call) is never blindly
   re-submitted: the provider's `reconcile` looks for the job by our client key where the
   provider has one, otherwise the take fails with "outcome unknown, may have been billed"
   so a person decides. A create call that comes back "outcome_unknown" is the same
   situation while alive, and gets the same treatment. Where not finding the job proves it
   was never made (`resubmit_safe_when_not_found`), the take goes back to `queued` and is
   submitted again through rule 1.
3. A step runs under a lease whose expiry a heartbeat pushes on; a dead worker's lease
   expires and the sweeper hands the take to the queue again, which resumes it by polling.

Two consequences that are easy to miss:
- A submit can succeed after the take stopped being ours (a reviewer cancelled it, or the
  lease moved on while the create call was in flight). Nobody will ever poll that remote job,
  so it is cancelled at the provider straight away and its id is still written on the row:
  a paid job is never left running unrecorded.
- Waiting is bounded everywhere by `take_timeout_s`: for a free provider slot (from the
  take's creation), for `reconcile` through 429s and 5xx, and for the result (from submit).
  The counters that bound it live in `job_state` between steps.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from datetime import timedelta

from sqlalchemy import func, or_, select, text, update
from botocore.exceptions import ConnectionError as S3ConnectionError, HTTPClientError as S3HTTPError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from app import costs, delivery, media, take_checks, webhooks
from app.comparisons import generation_request
from app.hooks import hook_url
from app.jobs.context import JobContext
from app.jobs.leases import POLL_OWNER, POLLED, QUEUE_OWNER, TAKES, Lease, LeaseLost, claim_take, hand_back, release, renew
from app.models import TERMINAL_STATES, Comparison, Take, utcnow
from app.providers.base import GenerationRequest, JobStatus, ProviderError, Submission

log = logging.getLogger(__name__)

__all__ = ["QUEUE_OWNER", "LeaseLost", "Step", "generate_take", "step_take"]

IN_FLIGHT = ("submitting", "submitted", "running")
# Errors of the database, object storage or the network under them: the step stops and the take
# is left to its lease's expiry (the sweeper resumes it), never failed for an outage.
OUTAGE = (DBAPIError, RedisError, OSError, ConnectionError, asyncio.TimeoutError, S3ConnectionError, S3HTTPError)
_lease: ContextVar[Lease] = ContextVar("take_lease")


@dataclass(frozen=True)
class Step:
    """What a step left: the take's status (None: the take was not ours, or an outage
    stopped the step), and when its next step is due (None: nothing more to do here)."""

    status: str | None
    delay: float | None = None
    seq: int | None = None


async def step_take(ctx: JobContext, take_id: str, seq: int | None = None) -> Step:
    """Run step `seq` of a take (any queued step when None) under a fresh lease, then hand
    the take back to the queue for its next step or release it when it has ended."""
    try:
        claimed = await claim_take(ctx, take_id, seq)
    except OUTAGE as exc:
        log.warning("take %s: cannot claim (%s); the sweeper will retry", take_id, exc)
        return Step(None)
    if claimed is None:
        return Step(None)
    lease, take, comparison = claimed
    _lease.set(lease)
    started = utcnow()
    driver = asyncio.create_task(_step(ctx, take, comparison))
    heartbeat = asyncio.create_task(_heartbeat(ctx, lease, driver))
    try:
        status, delay = await driver
    except asyncio.CancelledError:
        if not _lost(heartbeat):
            raise  # we are being shut down
        log.info("take %s: lease lost, leaving it to its new owner", take_id)
        return Step(None)
    except LeaseLost:
        log.info("take %s: lease lost, leaving it to its new owner", take_id)
        return Step(None)
    except OUTAGE as exc:
        log.warning("take %s: step stopped by an outage (%s); resumed after its lease expires", take_id, exc)
        return Step(None)
    except Exception as exc:  # a bug or an unexpected failure: show it on the take, never hang
        log.exception("take %s failed unexpectedly", take_id)
        try:
            await _fail(ctx, take_id, "provider_error", f"internal error: {type(exc).__name__}: {exc}")
        except (LeaseLost, *OUTAGE):
            return Step(None)
        status, delay = "failed", None
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        if not driver.done():
            driver.cancel()
            await asyncio.gather(driver, return_exceptions=True)
    try:
        if delay is None:
            await release(ctx, lease)
            return Step(status)
        if delay > 1.0 and await _hooked_since(ctx, take_id, started):
            delay = 0.0   # a webhook came while this step ran: check with the provider now
        owner = POLL_OWNER if status in POLLED else QUEUE_OWNER   # waiting at the provider: for the poller
        return Step(status, delay, await hand_back(ctx, lease, delay, owner))
    except (LeaseLost, *OUTAGE):
        return Step(None)


async def generate_take(ctx: JobContext, take_id: str) -> str | None:
    """Drive one take to its end in this coroutine, step after step (tests, scripts); returns
    its final status, or None when another attempt holds it (or took it over meanwhile)."""
    step = await step_take(ctx, take_id)
    while step.delay is not None:
        await _sleep(ctx, take_id, step.delay)
        step = await step_take(ctx, take_id, step.seq)
    return step.status


async def _hooked_since(ctx: JobContext, take_id: str, since) -> bool:
    if not ctx.settings.public_url:
        return False
    async with ctx.db.session() as s:
        seen = (await s.execute(select(Take.hook_seen_at).where(Take.id == take_id))).scalar_one_or_none()
    return seen is not None and seen >= since


def _lost(heartbeat: asyncio.Task) -> bool:
    return heartbeat.done() and not heartbeat.cancelled() and isinstance(heartbeat.exception(), LeaseLost)


async def _heartbeat(ctx: JobContext, lease: Lease, driver: asyncio.Task) -> None:
    """Keep the lease fresh while the step runs (downloads and media processing included);
    if it was lost anyway, stop the driver at once so two attempts never work on one take.
    A database outage is waited out: the lease then expires by itself if it lasts."""
    try:
        while True:
            await asyncio.sleep(max(0.05, ctx.settings.lease_s / 3))
            try:
                await renew(ctx, lease)
            except OUTAGE as exc:
                log.warning("take %s: cannot renew its lease (%s)", lease.take_id, exc)
    except LeaseLost:
        driver.cancel()
        raise


async def _set(ctx: JobContext, take_id: str, *, only_submitter: bool = False, **values) -> None:
    """Write state, but only while this step holds the lease and the take was not cancelled
    meanwhile (and, with `only_submitter`, only as the attempt that made the submit)."""
    lease = _lease.get()
    query = update(TAKES).where(TAKES.c.id == take_id, TAKES.c.lease_owner == lease.token,
                                TAKES.c.status.not_in(TERMINAL_STATES))
    if only_submitter:
        query = query.where(TAKES.c.submit_token == lease.token)
    ends = values.get("status") in ("ready", "failed")   # then the board's outbox joins the write
    async with (ctx.db.session() if ends else ctx.db.single()) as s:
        res = await s.execute(query.values(updated_at=utcnow(), **values))
        if res.rowcount == 1 and ends:
            await webhooks.take_ended(s, take_id, values["status"])   # same transaction
        await s.commit()
    if res.rowcount != 1:
        raise LeaseLost(take_id)
    await ctx.events.take_changed(ctx.db, take_id)   # open pages update (app.events); never raises


async def _sleep(ctx: JobContext, take_id: str, seconds: float) -> None:
    """The wait a step asked for before the next (generate_take), or a short one inside a
    step (download retries, while the heartbeat keeps the lease)."""
    await asyncio.sleep(max(0.0, seconds))


async def build_request(ctx: JobContext, take: Take, comparison: Comparison, model) -> GenerationRequest:
    """The request the form already checked (app.comparisons.generation_request), with the
    source image and reference video as local files (fetched from object storage when that is
    where they live)."""
    image = await ctx.storage.fetch(comparison.source_image) if comparison.source_image else None
    ref = await ctx.storage.fetch(comparison.reference_video) if comparison.reference_video else None
    req = generation_request(comparison.typed_params, model, prompt=comparison.prompt, take_id=take.id, image=image,
                             reference_video=ref)
    req.webhook_url = hook_url(ctx.settings, take.provider, take.id)
    return req


def _backoff(attempt: int, base: float, cap: float) -> float:
    return min(cap, base * (2 ** attempt)) * random.uniform(0.8, 1.2)


async def _fail(ctx: JobContext, take_id: str, code: str, message: str) -> None:
    await _set(ctx, take_id, status="failed", error_code=code, error_message=message[:4000],
               finished_at=utcnow(), progress=None)


Outcome = tuple[str, float | None]   # (status, seconds until the next step; None: ended)


async def _step(ctx: JobContext, take: Take, comparison: Comparison) -> Outcome:
    """One step from wherever the take is (as the claim read it)."""
    take_id = take.id
    model = ctx.catalog.get(take.model_id)
    provider = ctx.providers.get(model.provider) if model else None
    if model is None or provider is None:
        await _fail(ctx, take_id, "invalid_request", f"model {take.model_id} is not in the catalog or has no adapter")
        return "failed", None
    if not provider.available():
        await _fail(ctx, take_id, "auth", f"{provider.label or provider.name} is not configured: set {', '.join(provider.missing_keys())}")
        return "failed", None
    req = await build_request(ctx, take, comparison, model)
    if take.status == "queued":
        return await _submit_step(ctx, take, model, provider, req)
    if take.status == "submitting":
        return await _reconcile_step(ctx, take, model, provider, req)
    # submitted / running / downloading / processing: resume by polling (idempotent).
    return await _poll_step(ctx, take, comparison, model, provider)


async def _save(ctx: JobContext, take: Take, **counters) -> None:
    take.job_state = {**(take.job_state or {}), **counters}
    await _set(ctx, take.id, job_state=take.job_state)


_OTHER = TAKES.alias("other")   # built once: an alias makes its column proxies on first use


@lru_cache(maxsize=256)
def _lock_key(provider: str) -> int:
    """The provider's advisory lock key: the first 8 bytes of its name's SHA-256, signed."""
    return int.from_bytes(hashlib.sha256(provider.encode()).digest()[:8], "big", signed=True)


_CLAIM_SLOT = text("SELECT takes_claim_slot(:take, :lease, :provider, :limit, :now, :key, :in_flight)")


async def _claim_slot(ctx: JobContext, take: Take) -> bool:
    """The right to submit: queued → submitting, in one conditional UPDATE that requires our
    lease token, writes it as `submit_token`, and holds only while the provider has fewer
    than its limit of takes in flight. Checked by rowcount: at most one attempt ever wins it.

    A take in flight whose lease ran out (its worker died) frees its slot until it is resumed;
    on PostgreSQL a transaction-scoped advisory lock per provider serialises concurrent
    claimers (SQLite's single writer does that by itself), so the limit holds across workers.
    There the lock and the UPDATE are one call of `takes_claim_slot` (migration
    0018_claim_slot, the same statement) in autocommit, so the lock is held only while the
    UPDATE runs, not across round trips and the event loop's waits between them."""
    lease = _lease.get()
    limit = ctx.settings.concurrency_for(take.provider)
    now = utcnow()
    if ctx.db.engine.dialect.name == "postgresql":
        async with ctx.db.single() as s:
            won = (await s.execute(_CLAIM_SLOT, {"take": take.id, "lease": lease.token, "provider": take.provider,
                                                 "limit": limit, "now": now, "key": _lock_key(take.provider),
                                                 "in_flight": list(IN_FLIGHT)})).scalar_one()
        return won == 1
    busy = (
        select(func.count()).select_from(_OTHER)
        .where(_OTHER.c.provider == take.provider, _OTHER.c.status.in_(IN_FLIGHT), _OTHER.c.id != take.id)
        .where(or_(_OTHER.c.lease_expires_at.is_(None), _OTHER.c.lease_expires_at >= now))
        .scalar_subquery()
    )
    async with ctx.db.session() as s:
        res = await s.execute(
            update(TAKES)
            .where(TAKES.c.id == take.id, TAKES.c.status == "queued", TAKES.c.lease_owner == lease.token)
            .where(busy < limit)
            .values(status="submitting", submit_token=lease.token, progress=None, updated_at=now)
        )
        await s.commit()
        return res.rowcount == 1


async def _submit_step(ctx: JobContext, take: Take, model, provider, req: GenerationRequest) -> Outcome:
    settings = ctx.settings
    state = take.job_state or {}
    if not await _claim_slot(ctx, take):
        status = await _current_status(ctx, take.id)
        if status != "queued":
            raise LeaseLost(f"take {take.id} is {status} while waiting for a slot")   # e.g. cancelled by a reviewer
        if utcnow() >= take.created_at + timedelta(seconds=settings.take_timeout_s):
            await _fail(ctx, take.id, "timeout", f"no free slot at {take.provider} within {settings.take_timeout_s:g} s: "
                        f"{settings.concurrency_for(take.provider)} takes were in flight there the whole time")
            return "failed", None
        return "queued", min(1.0, settings.poll_interval_s)
    tries = state.get("submit_tries", 0)
    try:
        sub = await provider.submit(model, req)
    except ProviderError as err:
        if err.retryable and err.code != "outcome_unknown" and tries < 5:
            # The provider said no before creating anything (429 / 503): safe to ask again.
            await _set(ctx, take.id, status="queued", submit_token=None, error_message=f"waiting: {err.message}",
                       job_state={**state, "submit_tries": tries + 1})
            wait = err.retry_after if err.retry_after is not None else _backoff(tries + 1, settings.poll_interval_s, settings.poll_max_interval_s)
            return "queued", wait
        if err.code == "outcome_unknown":
            # Same situation as a crash in `submitting`, so the same rule: the next step looks
            # for the job by our client key (and re-submits only where that is proven safe).
            await _save(ctx, take, uncertain=err.message, submit_tries=tries + 1)
            return "submitting", 0.0
        await _fail_submit(ctx, take, err.code, err.message)
        return "failed", None
    except Exception as exc:
        await _fail(ctx, take.id, "outcome_unknown",
                    f"submit failed after the request may have reached the provider ({type(exc).__name__}: {exc}); "
                    "it may have been billed")
        return "failed", None
    if req.webhook_url:   # the provider will call back: polling becomes a slow reconcile
        sub = Submission(sub.remote_id, {**(sub.meta or {}), "hook": True})
    await _record(ctx, take, model, provider, sub, submitted_at=utcnow(), error_message=None, progress=0.0)
    return "submitted", 0.0


async def _record(ctx: JobContext, take: Take, model, provider, sub: Submission, **values) -> None:
    """Commit the remote id before anything else: this is what makes a crash safe. Retried
    through a short database outage (the job exists and must not be lost); if the take is no
    longer ours, the job is an orphan: cancelled there and still recorded."""
    deadline = time.monotonic() + max(10.0, ctx.settings.lease_s)
    wait = 0.2
    while True:
        try:
            await _set(ctx, take.id, only_submitter=True, status="submitted", remote_id=sub.remote_id,
                       remote_meta=sub.meta, job_state={}, **values)
            return
        except LeaseLost:
            # shielded: the heartbeat may notice the lost lease and cancel this step meanwhile
            await asyncio.shield(_orphaned_submission(ctx, take, model, provider, sub))
            raise
        except OUTAGE as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("take %s: cannot record remote job %s yet (%s); retrying", take.id, sub.remote_id, exc)
            await asyncio.sleep(wait)
            wait = min(2.0, wait * 2)


async def _reconcile_step(ctx: JobContext, take: Take, model, provider, req: GenerationRequest) -> Outcome:
    """The take is in `submitting` with no remote id: a worker died in the create call, or the
    call came back "outcome unknown". Look for the job by our client key, retrying 429s and
    5xx (they say nothing about whether it exists) until the take timeout."""
    settings, state = ctx.settings, take.job_state or {}
    uncertain = state.get("uncertain")
    name = provider.label or provider.name
    since = state.get("reconcile_since") or time.time()
    try:
        sub = await provider.reconcile(model, req)
    except ProviderError as err:
        retry = err.retryable
        errors = state.get("reconcile_errors", 0) + 1
        wait = err.retry_after if err.retry_after is not None else _backoff(errors, settings.poll_interval_s, settings.poll_max_interval_s)
        if retry and time.time() + wait <= since + settings.take_timeout_s:
            log.info("take %s: reconcile error (%s), retrying in %.1fs", take.id, err, wait)
            await _save(ctx, take, reconcile_errors=errors, reconcile_since=since)
            return "submitting", wait
        if uncertain:
            log.info("take %s: could not look for an uncertain submit at %s: %s", take.id, provider.name, err)
            await _fail_submit(ctx, take, "outcome_unknown", uncertain)
            return "failed", None
        code, message = (err.code, err.message) if not retry else (
            "timeout", f"gave up after repeated provider errors: {err.message}")
        await _fail(ctx, take.id, code, f"{message} (while checking whether an interrupted submit reached "
                    f"{name}: the outcome is unknown and it may have been billed)")
        return "failed", None
    if sub is not None:
        await _set(ctx, take.id, status="submitted", remote_id=sub.remote_id, remote_meta=sub.meta, job_state={},
                   submitted_at=take.submitted_at or utcnow())
        return "submitted", 0.0
    tries = state.get("submit_tries", 0)
    if provider.resubmit_safe_when_not_found and tries < 5:
        log.info("take %s: not found at %s; submitting it again (safe for this provider)", take.id, provider.name)
        await _set(ctx, take.id, status="queued", submit_token=None, job_state={"submit_tries": tries})
        return "queued", 0.0
    if uncertain:
        await _fail_submit(ctx, take, "outcome_unknown", uncertain)
    else:
        await _fail(ctx, take.id, "outcome_unknown",
                    "The worker stopped while submitting this take; the outcome is unknown and it may have "
                    "been billed. Check the provider's dashboard, then re-roll if needed.")
    return "failed", None


async def _poll_step(ctx: JobContext, take: Take, comparison: Comparison, model, provider) -> Outcome:
    """Poll once: schedule the next poll, or end the take (done, failed, cancelled, timed out)."""
    settings, take_id, state = ctx.settings, take.id, take.job_state or {}
    deadline = (take.submitted_at or utcnow()) + timedelta(seconds=settings.take_timeout_s)
    try:
        status = await provider.poll(model, take.remote_id, take.remote_meta or {})
    except ProviderError as err:
        if not err.retryable:
            await _fail(ctx, take_id, err.code, err.message)
            return "failed", None
        errors = state.get("poll_errors", 0) + 1
        wait = err.retry_after if err.retry_after is not None else _backoff(errors, settings.poll_interval_s, settings.poll_max_interval_s)
        log.info("take %s: poll error (%s), retrying in %.1fs", take_id, err, wait)
        if utcnow() + timedelta(seconds=wait) > deadline:
            await _fail(ctx, take_id, "timeout", f"gave up after repeated provider errors: {err.message}")
            return "failed", None
        await _save(ctx, take, poll_errors=errors)
        return take.status, wait
    if status.state in ("queued", "running"):
        if utcnow() > deadline:
            await _safe_cancel(provider, model, take)
            await _fail(ctx, take_id, "timeout", f"no result after {settings.take_timeout_s:.0f} s")
            return "failed", None
        polls = state.get("polls", 0)
        new = "running" if status.state == "running" else "submitted"
        await _set(ctx, take_id, status=new, progress=status.progress,
                   job_state={**state, "polls": polls + 1, "poll_errors": 0})
        if (take.remote_meta or {}).get("hook"):
            return new, settings.hook_reconcile_s   # a webhook wakes it sooner (app/hooks.py)
        interval = min(settings.poll_max_interval_s, settings.poll_interval_s * 1.5 ** polls)
        return new, status.poll_after if status.poll_after is not None else interval
    if status.state == "cancelled":
        await _set(ctx, take_id, status="cancelled", finished_at=utcnow())
        return "cancelled", None
    if status.state == "failed":
        err = status.error or ProviderError("provider_error", "the provider reported a failure without a reason")
        await _fail(ctx, take_id, err.code, err.message)
        return "failed", None
    return await _finish(ctx, take, comparison, model, provider, status), None


async def _current_status(ctx: JobContext, take_id: str) -> str | None:
    async with ctx.db.session() as s:
        return (await s.execute(select(Take.status).where(Take.id == take_id))).scalar_one_or_none()


async def _safe_cancel(provider, model, take: Take) -> None:
    if take.remote_id:
        try:
            await provider.cancel(model, take.remote_id, take.remote_meta or {})
        except Exception as exc:  # best effort
            log.warning("cancel of %s failed: %s", take.remote_id, exc)


async def _fail_submit(ctx: JobContext, take: Take, code: str, message: str) -> None:
    if code == "outcome_unknown" and "billed" not in message:
        # every adapter says why; the user also needs to know what it may cost
        message += "; the outcome is unknown and it may have been billed: check the provider's dashboard before re-rolling"
    await _fail(ctx, take.id, code, message)


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


async def _finish(ctx: JobContext, take: Take, comparison: Comparison, model, provider, status: JobStatus) -> str:
    """Download, probe, poster (and proxy), checks, then `ready`. The take and comparison are
    the step's own, loaded by its claim: what is read here (model, prompt, parameters) never
    changes after creation, so they are not read again."""
    storage, take_id = ctx.storage, take.id
    original_key = f"takes/{take_id}/original.mp4"
    await _set(ctx, take_id, status="downloading", progress=1.0)
    dest = storage.scratch(original_key)
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
        dest = await asyncio.to_thread(dest.replace, storage.scratch(original_key))
    poster_key = f"takes/{take_id}/poster.jpg"
    files = {original_key: dest, poster_key: storage.scratch(poster_key)}
    await asyncio.to_thread(media.make_poster, dest, files[poster_key])
    proxy_key = None
    reasons = media.proxy_reasons(info)
    if reasons:
        proxy_key = f"takes/{take_id}/proxy.mp4"
        files[proxy_key] = storage.scratch(proxy_key)
        await asyncio.to_thread(media.make_proxy, dest, files[proxy_key], info)
        info["proxy_reasons"] = reasons
    for key, path in files.items():   # into object storage (a no-op move for the local directory)
        await storage.put_file(key, path)
    params = comparison.typed_params
    duration = info["duration_s"] or params.duration_for(take.model_id)
    checks = await _take_checks(dest, duration, take_id)
    await _set(
        ctx, take_id, status="ready", clip_key=original_key, proxy_key=proxy_key, poster_key=poster_key,
        media_info=info, duration_s=duration, fps=info["fps"], width=info["width"], height=info["height"],
        has_audio=info["has_audio"], finished_at=utcnow(), progress=1.0, error_code=None, error_message=None,
        cost_usd=model.price_for(duration, params.audio, params.resolution or None),
        **delivery.take_fields(info, model, params, status.meta, comparison.prompt),
        **take_checks.take_fields(checks),
        **costs.take_fields(model, status.usage, audio=params.audio),
    )
    return "ready"


async def _take_checks(path, duration: float | None, take_id: str) -> dict | None:
    """The take checks' figures (app/take_checks.py); None when a clip that probed and played
    still defeats them: the take is ready without figures rather than failed for it."""
    try:
        return await asyncio.to_thread(take_checks.check_clip, path, duration)
    except Exception as exc:
        log.warning("take %s: take checks failed: %s", take_id, exc)
        return None
