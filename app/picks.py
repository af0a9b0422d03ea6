"""The picks `next` hands out, and how a vote records which pick (if any) it answers.

A pick is a row, server-side (`Pick`): the comparison, the two takes to compare, how they were
chosen (`active` or `uniform`, app/sampling.py) and the probability of that exact choice under
the whole mixed policy. Why a row and not a value the client sends back: the probability feeds
inverse-propensity checks of the fit (docs/leaderboard.md), and a client must not be able to
claim one. A vote may name its pick (`pick` in the API body); without one, the voter's latest
unused pick of that comparison from the last day applies, so the review page needs no hidden
field and survives reloads.

Each pairwise row of the ballot gets `sampled_by`:
- the picked pair's row: the pick's `active` / `uniform`, with its probability;
- the other pairs of the same ballot (a best-of-N pick or a ranking that contains the picked
  pair): `same_ballot`, no probability — they came along with the picked pair;
- anything else: `manual` (the reviewer chose what to compare), no probability.
A pick is used once: a second ballot on the same comparison is `manual`.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import InputError
from app.ids import new_id
from app.models import Comparison, Pick, Vote, utcnow

PICK_LIFETIME = timedelta(days=1)


def pair_key(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))


def new_pick(board_id: str, voter_id: str, comparison_id: str, takes: tuple[str, str], sampled_by: str,
             probability: float) -> Pick:
    return Pick(id=new_id(), board_id=board_id, voter_id=voter_id, comparison_id=comparison_id, take_a_id=takes[0],
                take_b_id=takes[1], sampled_by=sampled_by, probability=probability, created_at=utcnow(), used_at=None)


async def open_pick(session: AsyncSession, comparison_id: str, voter_id: str | None) -> Pick | None:
    """The voter's latest unused pick of this comparison from the last day (what a vote without
    a pick id answers; the review page asks for its pair)."""
    if not voter_id:
        return None
    return (await session.execute(
        select(Pick).where(Pick.voter_id == voter_id, Pick.comparison_id == comparison_id, Pick.used_at.is_(None),
                           Pick.created_at >= utcnow() - PICK_LIFETIME)
        .order_by(Pick.created_at.desc()).limit(1))).scalar_one_or_none()


async def voted_and_open_pick(session: AsyncSession, comparison_id: str,
                              voter_id: str | None) -> tuple[bool, tuple[str, str] | None]:
    """`app.votes.voted_on` and the pair of `open_pick`, in one round trip: every view of a
    comparison asks both, and each query is a database round trip (and, on SQLite, a hop to
    its thread)."""
    if not voter_id:
        return False, None
    voted = select(Vote.id).where(Vote.comparison_id == comparison_id, Vote.voter_id == voter_id,
                                  Vote.superseded_at.is_(None)).exists()
    latest = (select(Pick.take_a_id + "|" + Pick.take_b_id)
              .where(Pick.voter_id == voter_id, Pick.comparison_id == comparison_id, Pick.used_at.is_(None),
                     Pick.created_at >= utcnow() - PICK_LIFETIME)
              .order_by(Pick.created_at.desc()).limit(1).scalar_subquery())
    did, pair = (await session.execute(select(voted, latest))).one()
    return bool(did), (tuple(pair.split("|", 1)) if pair else None)


async def _pick_for(session: AsyncSession, comparison: Comparison, voter_id: str, pick_id: str | None) -> Pick | None:
    if pick_id:
        p = await session.get(Pick, pick_id)
        if p is None or p.voter_id != voter_id or p.comparison_id != comparison.id:
            raise InputError(f"pick {pick_id!r} is not one `next` gave you for this comparison")
        if p.used_at is not None:
            raise InputError(f"pick {pick_id!r} has already been voted on")
        return p
    return await open_pick(session, comparison.id, voter_id)


async def apply_pick(session: AsyncSession, comparison: Comparison, voter_id: str, pick_id: str | None,
                     rows: list[Vote]) -> None:
    """Set `sampled_by` / `sample_probability` on a ballot's rows (see the module docstring)
    and mark the pick used. A named pick the ballot does not answer is refused (422)."""
    # the vote path's one query already said whether there is an open pick (app.access.BallotTarget)
    known_none = pick_id is None and getattr(comparison, "open_pick", True) is False
    p = None if known_none else await _pick_for(session, comparison, voter_id, pick_id)
    key = pair_key(p.take_a_id, p.take_b_id) if p else None
    hit = key is not None and any(r.pair_key == key for r in rows)
    if pick_id and not hit:
        raise InputError(f"pick {pick_id!r} asks about takes {p.take_a_id} and {p.take_b_id}; this ballot is not about both")
    for r in rows:
        if hit and r.pair_key == key:
            r.sampled_by, r.sample_probability = p.sampled_by, p.probability
        else:
            r.sampled_by, r.sample_probability = ("same_ballot" if hit else "manual"), None
    if hit:
        p.used_at = utcnow()
