"""Recording votes.

A ballot (a pair judgement, a best-of-N pick or a full ranking) is stored as its pairwise
outcomes, grouped by ballot id. Each pair is written with the take shown at the lower screen
position as `a`, so left/right position bias can be measured later. Voting again on the same
pair and criterion supersedes the earlier row (kept, with `superseded_at`) instead of
deleting it.
"""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass
from itertools import combinations

from sqlalchemy import Boolean, Integer, String, Text, bindparam, case, cast, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app import vote_counts, webhooks
from app.boards import CRITERIA, criteria_for
from app.db import dialect_insert
from app.errors import Conflict, InputError
from app.ids import new_id
from app.models import TERMINAL_STATES, Board, Comparison, Take, Vote, VoteCount, utcnow
from app.picks import apply_pick

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
    pick: str | None = None             # the `next` pick this ballot answers (app/picks.py); None: the latest


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


async def record_ballot(session: AsyncSession, comparison: Comparison, voter_id: str, ballot: BallotInput, *,
                        observer: bool = False) -> list[Vote]:
    """Store a ballot as its pairwise votes. An `observer` (app.blind) saw the names before
    voting, so their votes are stored as not blind even on a blind board."""
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
        rows.append(Vote(
            id=new_id(), ballot_id=ballot_id, board_id=board.id, comparison_id=comparison.id, voter_id=voter_id,
            criterion=ballot.criterion, kind=ballot.kind, take_a_id=first, take_b_id=second,
            model_a=by_id[first].model_id, model_b=by_id[second].model_id, winner=winner,
            pair_key="|".join(sorted((first, second))), position_a=position.get(first),
            position_b=position.get(second), blind=board.blind and not observer, created_at=now,
        ))
    await apply_pick(session, comparison, voter_id, ballot.pick, rows)   # how the pair came to be shown
    await write_votes(session, rows)
    await webhooks.vote_cast(session, comparison, voter_id, ballot_id, ballot.kind, ballot.criterion,
                             [{"take_a": r.take_a_id, "take_b": r.take_b_id, "winner": r.winner} for r in rows])
    await session.commit()
    return rows


_VOTES = Vote.__table__
_RETURNED = (_VOTES.c.ballot_id, _VOTES.c.board_id, _VOTES.c.criterion, _VOTES.c.blind, _VOTES.c.model_a,
             _VOTES.c.model_b, _VOTES.c.winner, _VOTES.c.position_a, _VOTES.c.position_b)
# Built once: Core statements with bound parameters compile once and are then taken from
# SQLAlchemy's statement cache, where ORM update()/insert() rebuilt and re-planned them per row.
_SUPERSEDE = (update(_VOTES).where(
    _VOTES.c.voter_id == bindparam("s_voter"), _VOTES.c.comparison_id == bindparam("s_comparison"),
    _VOTES.c.criterion == bindparam("s_criterion"), _VOTES.c.pair_key.in_(bindparam("s_pairs", expanding=True)),
    _VOTES.c.superseded_at.is_(None)).values(superseded_at=bindparam("s_now")).returning(*_RETURNED))
TRIES = 20   # identical votes sent at once: each round, one of them gets in first


async def write_votes(session: AsyncSession, rows: list[Vote]) -> None:
    """Supersede the voter's standing votes on these pairs (one UPDATE for the whole ballot),
    insert the new rows, and move the ballot counts (app.vote_counts) to match, all in the
    caller's transaction.

    An insert that finds the pair taken (an identical vote of the same voter committed in
    between: a double click, a retrying client) supersedes that row too and tries again, so
    votes sent at once are recorded as if one came after the other: one active row, the
    last one's content, the earlier ones kept in the history."""
    first = rows[0]
    if len(rows) == 1 and session.bind.dialect.name == "postgresql":
        pattern = vote_counts.pattern_key(map(vote_counts.row_of, rows))
        params = {f: getattr(first, f) for f in _VOTE_FIELDS}
        params.update(c_board=first.board_id, c_criterion=first.criterion, c_blind=bool(first.blind), c_pattern=pattern)
        if (await session.execute(_insert_counted(), params)).first():
            return   # a first vote on the pair: nothing to supersede, and its count is added
    supersede = {"s_voter": first.voter_id, "s_comparison": first.comparison_id, "s_criterion": first.criterion,
                 "s_now": first.created_at}
    gone = list(await session.execute(_SUPERSEDE, {**supersede, "s_pairs": [r.pair_key for r in rows]}))
    insert = _insert_active(session.bind.dialect.name)
    for row in rows:
        for _ in range(TRIES):
            if (await session.execute(insert, {f: getattr(row, f) for f in _VOTE_FIELDS})).first():
                break
            gone += list(await session.execute(_SUPERSEDE, {**supersede, "s_pairs": [row.pair_key]}))
        else:
            raise Conflict("the same vote is being sent many times at once; send it again")
    delta = await vote_counts.moved_ballots(session, gone, first.ballot_id)
    delta[(first.board_id, first.criterion, bool(first.blind), vote_counts.pattern_key(map(vote_counts.row_of, rows)))] += 1
    await vote_counts.apply(session, delta)


@functools.cache
def _insert_counted():
    """PostgreSQL, a one-pair ballot: insert the vote unless the voter has an active one on
    the pair, and add its ballot to the counts, in one statement (two data-modifying CTEs;
    the count's INSERT reads the vote's RETURNING, so it adds 1 only when the vote went in).
    When the pair was taken nothing is written and write_votes takes the general path
    (supersede, insert, move the old ballot's count). Built once; the same result as that
    path for a first vote, in one round trip instead of three."""
    ins = _insert_active("postgresql").cte("ins")
    counts = VoteCount.__table__
    src = select(bindparam("c_board", type_=String), bindparam("c_criterion", type_=String),
                 cast(bindparam("c_blind"), Boolean), bindparam("c_pattern", type_=Text),
                 literal(1, Integer)).select_from(ins)
    up = pg_insert(counts).from_select(["board_id", "criterion", "blind", "pattern", "ballots"], src)
    up = up.on_conflict_do_update(index_elements=["board_id", "criterion", "blind", "pattern"],
                                  set_={"ballots": counts.c.ballots + up.excluded.ballots})
    return select(ins.c.id).add_cte(up.returning(counts.c.ballots).cte("counted"))


_VOTE_FIELDS = ("id", "ballot_id", "board_id", "comparison_id", "voter_id", "criterion", "kind", "take_a_id",
                "take_b_id", "model_a", "model_b", "winner", "pair_key", "position_a", "position_b", "blind",
                "created_at", "sampled_by", "sample_probability")


@functools.cache
def _insert_active(dialect: str):
    """INSERT the vote unless the voter already has an active one on the pair (then nothing,
    and write_votes supersedes that one first); RETURNING id tells which. One statement per
    dialect, built once."""
    insert = dialect_insert(dialect)
    stmt = insert(_VOTES).values({f: bindparam(f) for f in _VOTE_FIELDS})
    return stmt.on_conflict_do_nothing(
        index_elements=["voter_id", "comparison_id", "criterion", "pair_key"],
        index_where=_VOTES.c.superseded_at.is_(None),
    ).returning(_VOTES.c.id)


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
