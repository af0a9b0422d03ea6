"""Recording votes.

A ballot (a pair judgement, a best-of-N pick or a full ranking) is stored as its pairwise
outcomes, grouped by ballot id. Each pair is written with the take shown at the lower screen
position as `a`, so left/right position bias can be measured later. Voting again on the same
pair and criterion supersedes the earlier row (kept, with `superseded_at`) instead of
deleting it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from itertools import combinations

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.boards import CRITERIA, criteria_for
from app.errors import Conflict, InputError
from app.ids import new_id
from app.models import TERMINAL_STATES, Board, Comparison, Take, Vote, utcnow

OUTCOMES = {"a": "model_a", "b": "model_b", "tie": "tie", "bothbad": "tie (bothbad)"}
KINDS = ("pair", "best", "ranking")


@dataclass
class BallotInput:
    kind: str = "pair"
    criterion: str = "overall"
    take_a: str | None = None
    take_b: str | None = None
    outcome: str | None = None          # pair: a | b | tie | bothbad
    best: str | None = None             # best: the chosen take
    takes: list[str] | None = None      # best: the takes shown (default: all ready takes)
    ranking: list[str] | None = None    # ranking: best first


async def voted_on(session: AsyncSession, comparison_id: str, voter_id: str | None) -> bool:
    """Whether this voter has a standing vote on the comparison (names are revealed to them)."""
    if not voter_id:
        return False
    n = (await session.execute(select(func.count()).select_from(Vote).where(
        Vote.comparison_id == comparison_id, Vote.voter_id == voter_id, Vote.superseded_at.is_(None)))).scalar_one()
    return n > 0


def screen_order(takes: list[Take], voter_id: str | None, comparison_id: str, shuffle: bool) -> list[Take]:
    """The order this voter sees the takes in: a stable per-voter shuffle for blind boards."""
    ordered = sorted(takes, key=lambda t: (t.created_at, t.id))
    if not shuffle:
        return ordered
    seed = int.from_bytes(hashlib.sha256(f"{voter_id}|{comparison_id}".encode()).digest()[:8], "little")
    rng = random.Random(seed)
    rng.shuffle(ordered)
    return ordered


def screen_positions(comparison: Comparison, voter_id: str | None) -> dict[str, int]:
    """Slot of each ready take on this voter's screen (failed takes are not shown)."""
    order = screen_order(list(comparison.takes), voter_id, comparison.id, comparison.board.blind)
    return {t.id: i for i, t in enumerate(t for t in order if t.status == "ready")}


def _bounded(ids: list[str] | None, what: str, most: int) -> list[str]:
    """A list of take ids no longer than the comparison has takes, checked before anything is
    built from it: a ranking of n ids expands into n·(n-1)/2 pairs."""
    ids = ids or []
    if len(ids) > most:
        raise InputError(f"{what} lists {len(ids)} takes; this comparison has {most}, so at most {most}")
    return ids


def _pairs(ballot: BallotInput, by_id: dict[str, Take], most: int) -> list[tuple[str, str, str]]:
    """(first take, second take, winner) triples; winner in model_a/model_b/tie/tie (bothbad).
    `most` is the comparison's number of takes, the longest list a ballot may carry."""
    if ballot.kind == "pair":
        if not (ballot.take_a and ballot.take_b):
            raise InputError("a pair vote names take_a and take_b")
        if ballot.take_a == ballot.take_b:
            raise InputError("a pair vote needs two different takes")
        if ballot.outcome not in OUTCOMES:
            raise InputError(f"outcome must be one of {', '.join(OUTCOMES)}")
        return [(ballot.take_a, ballot.take_b, OUTCOMES[ballot.outcome])]
    if ballot.kind == "best":
        shown = _bounded(ballot.takes, "a best-of-N vote", most) or list(by_id)
        if not ballot.best or ballot.best not in shown:
            raise InputError("a best-of-N vote names `best`, one of the takes shown")
        if len(set(shown)) < 2:
            raise InputError("a best-of-N vote needs at least two takes")
        return [(ballot.best, other, "model_a") for other in dict.fromkeys(shown) if other != ballot.best]
    if ballot.kind == "ranking":
        ranking = _bounded(ballot.ranking, "a ranking", most)
        if len(ranking) < 2 or len(set(ranking)) != len(ranking):
            raise InputError("a ranking lists at least two different takes, best first")
        return [(hi, lo, "model_a") for hi, lo in combinations(ranking, 2)]
    raise InputError(f"vote kind must be one of {', '.join(KINDS)}")


async def record_ballot(session: AsyncSession, comparison: Comparison, voter_id: str, ballot: BallotInput) -> list[Vote]:
    board = comparison.board
    if ballot.criterion not in CRITERIA:
        raise InputError(f"unknown criterion {ballot.criterion!r}; known: {', '.join(CRITERIA)}")
    if ballot.criterion not in criteria_for(comparison):
        if ballot.criterion in (board.criteria or []) and not comparison.source_image:
            raise InputError(f"{CRITERIA[ballot.criterion].lower()} is only asked when the comparison has a "
                             "source image, and this one has none")
        raise InputError(f"this board does not ask about {CRITERIA[ballot.criterion].lower()}")
    by_id = {t.id: t for t in comparison.takes}
    triples = _pairs(ballot, {t.id: t for t in comparison.takes if t.status == "ready"}, len(by_id))
    for a, b, _ in triples:
        for tid in (a, b):
            if tid not in by_id:
                raise InputError(f"take {tid} is not part of this comparison")
            if by_id[tid].status != "ready":
                raise Conflict(f"take {tid} is not ready (it is {by_id[tid].status}); only ready takes can be voted on")
    position = screen_positions(comparison, voter_id)
    now = utcnow()
    ballot_id = new_id()
    rows = []
    for first, second, winner in triples:
        # Store the take shown further left as `a`; flip the winner to match.
        if position.get(second, 99) < position.get(first, 99):
            first, second = second, first
            winner = {"model_a": "model_b", "model_b": "model_a"}.get(winner, winner)
        pair_key = "|".join(sorted((first, second)))
        await session.execute(
            update(Vote).where(Vote.voter_id == voter_id, Vote.comparison_id == comparison.id,
                               Vote.criterion == ballot.criterion, Vote.pair_key == pair_key,
                               Vote.superseded_at.is_(None))
            .values(superseded_at=now)
        )
        rows.append(Vote(
            id=new_id(), ballot_id=ballot_id, board_id=board.id, comparison_id=comparison.id, voter_id=voter_id,
            criterion=ballot.criterion, kind=ballot.kind, take_a_id=first, take_b_id=second,
            model_a=by_id[first].model_id, model_b=by_id[second].model_id, winner=winner, pair_key=pair_key,
            position_a=position.get(first), position_b=position.get(second), blind=board.blind, created_at=now,
        ))
    for row in rows:
        row.id = (await session.execute(_insert_active(session, row))).scalar_one()
    await session.commit()
    return rows


_VOTE_FIELDS = ("id", "ballot_id", "board_id", "comparison_id", "voter_id", "criterion", "kind", "take_a_id",
                "take_b_id", "model_a", "model_b", "winner", "pair_key", "position_a", "position_b", "blind",
                "created_at")


def _insert_active(session: AsyncSession, row: Vote):
    """INSERT the vote; if an identical request of the same voter got its row in between the
    supersede and this insert (two clicks, a retrying client), take that row over instead of
    failing on uq_votes_active_pair: the same vote sent twice at once is recorded once, and the
    later one's content wins, as it would one after the other. Returns the row's id."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Vote).values({f: getattr(row, f) for f in _VOTE_FIELDS})
    return stmt.on_conflict_do_update(
        index_elements=["voter_id", "comparison_id", "criterion", "pair_key"],
        index_where=Vote.superseded_at.is_(None),
        set_={f: stmt.excluded[f] for f in _VOTE_FIELDS if f not in ("id", "voter_id", "comparison_id",
                                                                       "criterion", "pair_key")},
    ).returning(Vote.id)


async def next_comparison(session: AsyncSession, board: Board, voter_id: str | None,
                          after: str | None = None) -> str | None:
    """The board's next comparison this voter has not voted on, oldest first, starting after
    `after` (the one on screen, so skipping works) and wrapping around; None when none is left.

    Comparisons with nothing left to vote on (every take finished, fewer than two ready) are
    passed over; ones still generating are offered (a blind one shows its takes when all are done)."""
    voted = select(Vote.comparison_id).where(
        Vote.board_id == board.id, Vote.voter_id == (voter_id or ""), Vote.superseded_at.is_(None))
    dead = (
        select(Take.comparison_id).join(Comparison, Comparison.id == Take.comparison_id)
        .where(Comparison.board_id == board.id).group_by(Take.comparison_id)
        .having(func.sum(case((Take.status.in_(TERMINAL_STATES), 0), else_=1)) == 0)
        .having(func.sum(case((Take.status == "ready", 1), else_=0)) < 2)
    )
    ids = list((await session.execute(
        select(Comparison.id).where(Comparison.board_id == board.id, Comparison.id.not_in(voted),
                                    Comparison.id.not_in(dead))
        .order_by(Comparison.created_at, Comparison.id)
    )).scalars().all())
    if after:
        order = list((await session.execute(
            select(Comparison.id).where(Comparison.board_id == board.id).order_by(Comparison.created_at, Comparison.id)
        )).scalars().all())
        if after in order:
            rank = {cid: i for i, cid in enumerate(order)}
            here = rank[after]
            later = [cid for cid in ids if rank[cid] > here]
            earlier = [cid for cid in ids if rank[cid] < here]
            ids = later + earlier
        else:
            ids = [cid for cid in ids if cid != after]
    return ids[0] if ids else None
