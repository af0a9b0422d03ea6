"""Who may work on a take, decided in the database, one conditional UPDATE at a time.

- A step of a take runs under a **lease**: `lease_owner` holds a token made for that one
  attempt (`Lease.token`, never the worker's identity), so two copies of a job — in one
  process or in two — cannot both hold it. Renewing, handing back and releasing all compare
  the token, so a lease is only ever ended by its own holder.
- Between steps the take is held by the queue (`lease_owner = "queue"`) until its next step
  is due plus LEASE_S. `step_seq` numbers the steps: the job for step n claims the take only
  while `step_seq = n`, so a stale copy of a job (a dead worker's, retried by arq later) is a
  no-op, and the queue holds at most one live job per take.
- A step's job that is no longer the take's live job (its `step_seq` moved on, or the take
  ended) is superseded: `superseded` names those, and the sweeper drops them from the queue.
- The sweeper hands a take whose lease ran out (its worker died, or an enqueue was lost) to
  the queue again with the next `step_seq`: a take waits at most LEASE_S + SWEEP_INTERVAL_S
  after its worker died.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update

from app.jobs.context import JobContext
from app.models import TERMINAL_STATES, Comparison, Take, utcnow

QUEUE_OWNER = "queue"          # lease owner while a take's next step waits in a queue
POLL_OWNER = "poller"          # … while it waits at the provider for a poller pass (app/jobs/polls.py)
POLLED = ("submitted", "running")   # the statuses the poller polls; the others run as steps


class LeaseLost(Exception):
    """Another attempt holds the take now (ours expired), or it ended: stop without touching it."""


@dataclass(frozen=True)
class Lease:
    take_id: str
    token: str


def _unheld(now):
    return or_(Take.lease_owner.is_(None), Take.lease_expires_at < now)


async def claim(ctx: JobContext, take_id: str, seq: int | None = None) -> Lease | None:
    """Take the lease for one step: free, expired, or held by the queue for step `seq`.
    `seq=None` (a direct call, tests) accepts whichever step is queued."""
    got = await claim_take(ctx, take_id, seq)
    return got[0] if got else None


async def claim_take(ctx: JobContext, take_id: str, seq: int | None = None
                     ) -> tuple[Lease, Take, Comparison] | None:
    """`claim`, and the take (as the claim left it) and its comparison in the same round of
    the same connection: a step starts with one UPDATE … RETURNING and one SELECT, not a
    claim and then a separate load (issue 14: round trips per step). A take waiting for the
    poller may be claimed by its step too (`generate_take` runs without a poller): the step
    number decides between them, as between two jobs."""
    now = utcnow()
    token = f"{ctx.worker_id}.{uuid.uuid4().hex[:16]}"
    query = (update(Take).where(Take.id == take_id, Take.status.not_in(TERMINAL_STATES))
             .where(or_(_unheld(now), Take.lease_owner.in_((QUEUE_OWNER, POLL_OWNER)))))
    if seq is not None:
        query = query.where(Take.step_seq == seq)
    query = query.values(lease_owner=token, lease_expires_at=now + timedelta(seconds=ctx.settings.lease_s))
    async with ctx.db.single() as s:   # the claim commits by itself; the SELECT only reads
        take = (await s.execute(query.returning(Take), execution_options={"synchronize_session": False})
                ).scalar_one_or_none()
        comparison = await s.get(Comparison, take.comparison_id) if take is not None else None
        await s.commit()
    if take is None or comparison is None:
        return None
    return Lease(take_id, token), take, comparison


TAKES = Take.__table__   # Core statements for the writes of every step: no ORM layer to build


async def renew(ctx: JobContext, lease: Lease) -> None:
    async with ctx.db.single() as s:
        res = await s.execute(
            update(TAKES).where(TAKES.c.id == lease.take_id, TAKES.c.lease_owner == lease.token)
            .values(lease_expires_at=utcnow() + timedelta(seconds=ctx.settings.lease_s))
        )
        await s.commit()
    if res.rowcount != 1:
        raise LeaseLost(lease.take_id)


async def release(ctx: JobContext, lease: Lease) -> None:
    """The take is finished (or we give up on it): free it, if it is still ours."""
    async with ctx.db.single() as s:
        await s.execute(update(TAKES).where(TAKES.c.id == lease.take_id, TAKES.c.lease_owner == lease.token)
                        .values(lease_owner=None, lease_expires_at=None))
        await s.commit()


async def hand_back(ctx: JobContext, lease: Lease, delay: float, owner: str = QUEUE_OWNER) -> int:
    """Give the take to the queue (or, `owner=POLL_OWNER`, to the poller) for its next step,
    due in `delay` seconds; returns that step's number (the job to enqueue). LeaseLost if
    the take is no longer ours."""
    until = utcnow() + timedelta(seconds=max(0.0, delay) + ctx.settings.lease_s)
    async with ctx.db.single() as s:
        res = await s.execute(
            update(TAKES).where(TAKES.c.id == lease.take_id, TAKES.c.lease_owner == lease.token)
            .values(lease_owner=owner, lease_expires_at=until, step_seq=TAKES.c.step_seq + 1)
            .returning(TAKES.c.step_seq)
        )
        seq = res.scalar_one_or_none()
        await s.commit()
    if seq is None:
        raise LeaseLost(lease.take_id)
    return seq


@dataclass(frozen=True)
class Stale:
    take_id: str
    seq: int
    queued: bool      # its lease was the queue's: a job for step `seq` was enqueued, never started


async def stale_takes(ctx: JobContext, limit: int = 200) -> list[Stale]:
    """Non-terminal takes nobody holds: new ones whose enqueue was lost, a dead worker's, or
    ones whose queued job has not started within LEASE_S (a busy queue, or a lost job)."""
    now = utcnow()
    async with ctx.db.session() as s:
        rows = await s.execute(
            select(Take.id, Take.step_seq, Take.lease_owner).where(Take.status.not_in(TERMINAL_STATES))
            .where(_unheld(now)).order_by(Take.created_at).limit(limit)
        )
        return [Stale(tid, seq, owner == QUEUE_OWNER) for tid, seq, owner in rows]


async def mark_queued(ctx: JobContext, take_ids: list[str], *, same_step: dict[str, int] | None = None
                      ) -> list[tuple[str, int]]:
    """Hand unheld takes to the queue: returns (take id, step number) for each one that was
    still unheld, i.e. the jobs to enqueue; the others already have a live job or holder.
    A take gets the next step number, except those in `same_step` (take id → its current
    step), whose queued job is to be sent again under the same id (a no-op where it exists)."""
    now = utcnow()
    same_step = same_step or {}
    values = {"lease_owner": QUEUE_OWNER, "lease_expires_at": now + timedelta(seconds=ctx.settings.lease_s)}
    found: dict[str, int] = {}
    fresh = [tid for tid in dict.fromkeys(take_ids) if tid not in same_step]
    async with ctx.db.session() as s:
        # the takes that get the next step number: one UPDATE … RETURNING per chunk (a suite
        # hands thousands to the queue), the same conditions as for one take
        for start in range(0, len(fresh), 500):
            rows = await s.execute(
                update(Take.__table__).where(Take.id.in_(fresh[start:start + 500]),
                                             Take.status.not_in(TERMINAL_STATES), _unheld(now))
                .values(step_seq=Take.step_seq + 1, **values).returning(Take.id, Take.step_seq))
            found.update({tid: seq for tid, seq in rows})
        for tid, step in same_step.items():
            if tid not in take_ids:
                continue
            query = (update(Take).where(Take.id == tid, Take.status.not_in(TERMINAL_STATES), _unheld(now),
                                        Take.step_seq == step))
            seq = (await s.execute(query.values(**values).returning(Take.step_seq))).scalar_one_or_none()
            if seq is not None:
                found[tid] = seq
        await s.commit()
    return [(tid, found[tid]) for tid in dict.fromkeys(take_ids) if tid in found]


async def unmark(ctx: JobContext, take_id: str, seq: int) -> None:
    """An enqueue failed (the queue is down): leave the take to the next sweep at once."""
    async with ctx.db.session() as s:
        await s.execute(update(Take).where(Take.id == take_id, Take.lease_owner == QUEUE_OWNER,
                                           Take.step_seq == seq)
                        .values(lease_owner=None, lease_expires_at=None))
        await s.commit()


async def superseded(ctx: JobContext, steps: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Of these (take id, step number) jobs, the ones that can only be no-ops now: the take's
    `step_seq` is past that step, or the take has ended. Both only move forward, so the answer
    stays true however late it is used; a step newer than the row read is never named."""
    if not steps:
        return set()
    async with ctx.db.session() as s:
        rows = await s.execute(select(Take.id, Take.step_seq, Take.status)
                               .where(Take.id.in_({tid for tid, _ in steps})))
        current = {tid: (seq, status) for tid, seq, status in rows}
    return {(tid, seq) for tid, seq in steps
            if tid in current and (seq < current[tid][0] or current[tid][1] in TERMINAL_STATES)}
