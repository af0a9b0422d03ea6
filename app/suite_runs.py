"""Running a suite: progress, pause, resume, cancel, retry failed takes — all through the job
layer's own rules (app/jobs/leases.py), so neither runner needs to know suites exist.

- **Pause** holds every still-queued take of the suite: one UPDATE gives them the lease owner
  "paused" with no expiry. Nothing claims a take held that way — not a queued job (its claim
  needs the take unheld or held by the queue), not the sweeper (it only re-queues unheld
  takes) — and a step already waiting for a provider slot loses its lease at its next write.
  Takes already submitted keep running: they are being paid for, so they finish.
- **Resume** frees those takes and enqueues them again, in batches.
- **Cancel** cancels every unfinished take as the take-cancel path does (cancelled here at
  once, then at the provider, best effort; the board's `suite.complete` webhook says so; a submit that lands afterwards is cancelled by the
  job layer, app/jobs/generate.py `_orphaned_submission`).
- **Retry** makes a new attempt (take 2, 3 …) of every model whose latest take in a
  comparison of the suite failed, after the board's budget check, and enqueues them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import webhooks
from app.budget import check_budget
from app.catalog import Catalog
from app.comparisons import cancel_at_provider
from app.errors import Conflict
from app.models import TERMINAL_STATES, Board, Comparison, Suite, Take, utcnow
from app.providers import Providers
from app.settings import Settings
from app.suites import PAUSED

log = logging.getLogger("takes")
BATCH = 200                 # takes per enqueue call
IN_FLIGHT = ("submitting", "submitted", "running", "downloading", "processing")
_pending: set[asyncio.Task] = set()


def _of_suite(suite_id: str):
    return Take.comparison_id.in_(select(Comparison.id).where(Comparison.suite_id == suite_id))


async def enqueue_in_batches(queue, take_ids: list[str], batch: int = BATCH) -> None:
    """Hand takes to the queue `batch` at a time; a batch that fails is left to the sweep
    (the takes are committed and unheld, so the runners' sweep delivers them)."""
    for start in range(0, len(take_ids), batch):
        try:
            await queue.enqueue(take_ids[start:start + batch])
        except Exception:
            log.warning("could not enqueue %d takes; the sweep will deliver them", len(take_ids) - start,
                        exc_info=True)
            return


def enqueue_later(queue, take_ids: list[str]) -> asyncio.Task:
    """enqueue_in_batches after the answer has gone: a suite's thousands of takes need not
    hold up its 202. The task is kept referenced until it ends (`drain` awaits them)."""
    task = asyncio.create_task(enqueue_in_batches(queue, take_ids), name="suite-enqueue")
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return task


async def drain() -> None:
    """Wait for every enqueue_later still running (tests, shutdown)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)


@dataclass
class Progress:
    counts: dict[str, int] = field(default_factory=dict)   # queued / running / ready / failed / cancelled
    paused: int = 0
    total: int = 0
    cost_so_far: float = 0.0
    cost_estimate: float | None = 0.0
    eta_s: float | None = None

    @property
    def unfinished(self) -> int:
        return self.counts.get("queued", 0) + self.counts.get("running", 0)


def _group(status: str) -> str:
    return "running" if status in IN_FLIGHT else status


async def suite_progress(s: AsyncSession, suite: Suite, settings: Settings) -> Progress:
    """Counts per state, what has been spent (takes that reached a provider, as the budget
    counts), the estimate for the whole run, and a rough time left: per provider, the takes
    left × their median generation time so far ÷ the provider's concurrency (the slowest
    provider decides); unknown until one take of each provider still busy has finished."""
    rows = (await s.execute(
        select(Take.provider, Take.status, func.sum(case((Take.lease_owner == PAUSED, 1), else_=0)), func.count(),
               func.sum(func.coalesce(Take.cost_usd, Take.cost_estimate_usd)),
               func.sum(func.coalesce(Take.cost_usd, Take.cost_estimate_usd)).filter(Take.remote_id.is_not(None)),
               func.count(Take.cost_estimate_usd))
        .where(_of_suite(suite.id)).group_by(Take.provider, Take.status))).all()
    p, left = Progress(), defaultdict(int)
    estimate, unpriced = 0.0, False
    for provider, status, paused, n, cost, spent, priced in rows:
        group = _group(status)
        p.counts[group] = p.counts.get(group, 0) + n
        p.total += n
        p.paused += int(paused or 0)
        p.cost_so_far += float(spent or 0.0)       # reached a provider (a ready take always has)
        if status in ("failed", "cancelled"):
            estimate += float(spent or 0.0)         # billed, if it got that far; else nothing
        else:
            estimate += float(cost or 0.0)
            unpriced = unpriced or priced < n
        if group in ("queued", "running"):
            left[provider] += n
    p.counts = {k: p.counts.get(k, 0) for k in ("queued", "running", "ready", "failed", "cancelled")}
    p.cost_so_far = round(p.cost_so_far, 4)
    p.cost_estimate = None if unpriced else round(estimate, 4)
    p.eta_s = await _eta(s, suite, left, settings) if suite.status == "running" else None
    return p


async def _eta(s: AsyncSession, suite: Suite, left: dict[str, int], settings: Settings) -> float | None:
    if not left:
        return 0.0
    rows = (await s.execute(select(Take.provider, Take.submitted_at, Take.finished_at).where(
        _of_suite(suite.id), Take.status == "ready", Take.submitted_at.is_not(None),
        Take.finished_at.is_not(None), Take.provider.in_(list(left))))).all()
    times: dict[str, list[float]] = defaultdict(list)
    for provider, sub, fin in rows:
        times[provider].append((fin - sub).total_seconds())
    if any(not times.get(provider) for provider in left):
        return None
    return round(max(n * sorted(times[p])[len(times[p]) // 2] / max(1, settings.concurrency_for(p))
                     for p, n in left.items()), 1)


async def refresh_status(s: AsyncSession, suite: Suite) -> Suite:
    """A running suite whose every take has ended is done (written once, here)."""
    if suite.status == "running":
        open_ = (await s.execute(select(func.count()).select_from(Take).where(
            _of_suite(suite.id), Take.status.not_in(TERMINAL_STATES)))).scalar_one()
        if not open_:
            suite.status = "done"
            await s.commit()
    return suite


def _require(suite: Suite, *allowed: str) -> None:
    if suite.status not in allowed:
        raise Conflict(f"suite {suite.name!r} is {suite.status}")


async def pause_suite(s: AsyncSession, suite: Suite) -> int:
    """Hold the suite's queued takes (see the module docstring); returns how many."""
    _require(suite, "running", "paused")
    res = await s.execute(update(Take).where(_of_suite(suite.id), Take.status == "queued")
                          .values(lease_owner=PAUSED, lease_expires_at=None, updated_at=utcnow())
                          .execution_options(synchronize_session=False))
    suite.status = "paused"
    await s.commit()
    return res.rowcount


async def resume_suite(s: AsyncSession, suite: Suite, queue) -> list[str]:
    """Free the held takes and hand them to the queue again; returns their ids."""
    _require(suite, "paused", "running")
    ids = list((await s.execute(select(Take.id).where(_of_suite(suite.id), Take.lease_owner == PAUSED,
                                                        Take.status == "queued"))).scalars())
    await s.execute(update(Take).where(_of_suite(suite.id), Take.lease_owner == PAUSED)
                    .values(lease_owner=None, lease_expires_at=None, updated_at=utcnow())
                    .execution_options(synchronize_session=False))
    suite.status = "running"
    await s.commit()
    await enqueue_in_batches(queue, ids)
    return ids


async def cancel_suite(s: AsyncSession, suite: Suite, catalog: Catalog, providers: Providers) -> int:
    """Cancel every unfinished take of the suite, here and at its provider; returns how many."""
    _require(suite, "running", "paused", "cancelled")     # a done suite has nothing left to cancel
    takes = list((await s.execute(select(Take).where(_of_suite(suite.id), Take.status.not_in(TERMINAL_STATES))))
                 .scalars())
    now = utcnow()
    if takes:
        await s.execute(update(Take).where(Take.id.in_([t.id for t in takes]), Take.status.not_in(TERMINAL_STATES))
                        .values(status="cancelled", finished_at=now, error_code="cancelled", progress=None,
                                error_message="cancelled with its suite", lease_owner=None, lease_expires_at=None)
                        .execution_options(synchronize_session=False))
    if takes and suite.status != "cancelled":
        await webhooks.suite_ended(s, suite, "cancelled")      # the board's outbox, same transaction
    suite.status = "cancelled"
    await s.commit()
    remote = [t for t in takes if t.remote_id]
    for start in range(0, len(remote), 16):      # a few at a time: providers rate-limit cancels too
        await asyncio.gather(*(cancel_at_provider(t, catalog, providers) for t in remote[start:start + 16]))
    return len(takes)


async def retry_failed(s: AsyncSession, suite: Suite, queue) -> list[str]:
    """A new attempt of every model whose latest take in a comparison of the suite failed."""
    _require(suite, "running", "paused", "done")
    takes = (await s.execute(select(Take).where(_of_suite(suite.id)).order_by(Take.attempt))).scalars().all()
    latest: dict[tuple[str, str], Take] = {}
    for t in takes:
        latest[(t.comparison_id, t.model_id)] = t
    failed = [t for t in latest.values() if t.status == "failed"]
    if not failed:
        return []
    await check_budget(s, await s.get(Board, suite.board_id), [t.cost_estimate_usd for t in failed], f"retrying {len(failed)} takes",
                       unpriced=sorted({t.model_id for t in failed if t.cost_estimate_usd is None}))
    held = {"lease_owner": PAUSED} if suite.status == "paused" else {}
    new = [Take(comparison_id=t.comparison_id, model_id=t.model_id, provider=t.provider, attempt=t.attempt + 1,
                cost_estimate_usd=t.cost_estimate_usd, **held) for t in failed]
    s.add_all(new)
    if suite.status == "done":
        suite.status = "running"
    await s.commit()
    ids = [t.id for t in new]
    if not held:
        await enqueue_in_batches(queue, ids)
    return ids
