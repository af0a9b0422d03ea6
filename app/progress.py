"""How long a take has been going and how long it has left, from its model's measured median
generation time (submit to ready, app.models.Take.generation_s) over recent finished takes.

Plain functions, so tests call them directly; the live event stream (app/web/live.py) sends
their result to the page. A model with no finished take has no estimate (None), never a made-up
one; a take past its model's median is "overdue" (0 s left), not given a negative time.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Take, utcnow

RECENT = 50   # finished takes per model the median is taken over


def median_generation_s(takes: Iterable[Take]) -> dict[str, float]:
    """{model id: median generation time in s} over the ready takes given (others ignored)."""
    times: dict[str, list[float]] = {}
    for t in takes:
        g = t.generation_s
        if g is not None and g >= 0:
            times.setdefault(t.model_id, []).append(g)
    return {m: statistics.median(v) for m, v in times.items()}


@dataclass(frozen=True)
class Timing:
    elapsed_s: float             # since the take was made (queued), or until it finished
    left_s: float | None         # estimate; None: no finished take of this model to go by
    overdue: bool = False        # running longer than the model's median


def timing(take: Take, median_s: float | None, now: datetime | None = None) -> Timing:
    """Elapsed time of a take and, while it runs, the time left by its model's median: from
    submission when submitted, else the whole median (it has not started at the provider)."""
    now = now or utcnow()
    end = take.finished_at if take.terminal and take.finished_at else now
    elapsed = max(0.0, (end - take.created_at).total_seconds())
    if take.terminal:
        return Timing(elapsed, 0.0)
    if median_s is None:
        return Timing(elapsed, None)
    running = (now - take.submitted_at).total_seconds() if take.submitted_at else 0.0
    left = median_s - max(0.0, running)
    return Timing(elapsed, max(0.0, left), left < 0)


async def recent_medians(s: AsyncSession, model_ids: Sequence[str], recent: int = RECENT) -> dict[str, float]:
    """Medians over each model's last `recent` ready takes (one query per model: few models
    per comparison, each an indexed lookup)."""
    takes: list[Take] = []
    for m in sorted(set(model_ids)):
        takes += (await s.execute(
            select(Take).where(Take.model_id == m, Take.status == "ready", Take.submitted_at.is_not(None),
                               Take.finished_at.is_not(None))
            .order_by(Take.finished_at.desc()).limit(recent))).scalars().all()
    return median_generation_s(takes)
