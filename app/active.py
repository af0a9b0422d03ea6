"""`next` with active sampling: the comparison, and the pair of its takes, whose vote most
reduces the uncertainty about the order of the top models (app/sampling.py), with a fixed
uniform share — recorded as a pick (app/picks.py) that the vote then answers.

Speed (bench/next.py: a board of 10,000 comparisons and 100,000 votes). A warm call is one
query and one INSERT: the query (`_versions`) reads the board's versions — its comparisons'
count and latest, its latest vote, the voter's latest vote there and how many votes the cached
fit is behind (index lookups) — and on PostgreSQL turns off waiting for the disk at commit for
this transaction (a pick lost in a crash only makes its vote `manual`). The rest is cached:
- the fit per board, redone when the vote rows made since it number at least `REFIT_SHARE` of
  the votes it was made on (at least one) or it is older than `REFIT_S` with any change (a vote
  made in the same microsecond as the fit's latest is seen by the next one); in between, the picks
  handed out are folded into its covariance (`Beliefs.record`), so readers served from one fit
  spread over pairs instead of all getting the same one;
- the candidates (comparisons with two or more ready takes and none still being made) and the
  board's tags, re-read at once when the board gains or loses a comparison, and every
  `REREAD_S` in the background, calls going on with the cached ones meanwhile (takes
  finishing, tags an editor changed). A ready take stays ready, so a cached
  candidate never offers a take that cannot be voted on; a comparison whose re-roll is still
  being made may be offered for its ready pair;
- each voter's voted comparisons (as a mask over the candidates), re-read only when the voter's
  latest vote on the board moved.

Tags (the per-tag uncertainty): each tag with votes gets its own fit over its comparisons'
votes; the board's tags are read with the candidates (`tags` overrides them: tests).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import leaderboard as lb
from app.models import TERMINAL_STATES, Board, Comparison, Pick, Take, Vote
from app.picks import new_pick
from app.ranking import Ranking, rank
from app.sampling import EPSILON, Beliefs, Candidates, beliefs, pick
from app.tags import tags_by_board_comparison

ROUNDS = 200          # bootstrap rounds of the sampling fit: P(in the top) needs no more
REFIT_SHARE = 0.02
REFIT_S = 30.0
REREAD_S = 10.0
CACHED_BOARDS = 32
log = logging.getLogger("takes")
CACHED_VOTERS = 256   # per board: voters whose voted-comparison mask is kept


@dataclass(frozen=True)
class NextPick:
    comparison: str
    pick: str
    takes: tuple[str, str]
    sampled_by: str
    probability: float


@dataclass
class _Entry:
    cands: Candidates
    cand_key: tuple
    read_at: float
    tag_key: object
    row_of: dict[str, int] = field(default_factory=dict)     # comparison id → row of cands
    fit_key: object = None         # the latest vote time the fit has seen
    fit_votes: int = -1
    fit_at: float = 0.0
    fit: Ranking | None = None
    tag_fits: dict[str, Ranking] = field(default_factory=dict)
    state: Beliefs | None = None
    voted: OrderedDict[str, tuple[object, np.ndarray]] = field(default_factory=OrderedDict)  # voter → (latest, mask)


_cache: OrderedDict[str, _Entry] = OrderedDict()
_background: set[asyncio.Task] = set()
_locks: dict[str, asyncio.Lock] = {}


def forget(board_id: str | None = None) -> None:
    """Drop the cache (of one board): tests, and benches that time a cold call."""
    if board_id is None:
        _cache.clear()
    else:
        _cache.pop(board_id, None)


@dataclass(frozen=True)
class _Versions:
    comparisons: tuple          # (count, latest created_at)
    voted_at: object            # the board's latest vote
    voter_at: object            # the voter's latest vote on the board
    behind: int                 # vote rows made after the cached fit's latest


async def _versions(s: AsyncSession, board_id: str, voter_id: str | None, since) -> _Versions:
    """Everything a warm call needs to know, in one round trip (module docstring); each part is
    an index lookup (ix_votes_board_created: a re-vote is a new row, so any change moves the latest)."""
    comps = select(func.count(), func.max(Comparison.created_at)).where(Comparison.board_id == board_id).subquery()
    on_board = Vote.board_id == board_id
    cols = [comps.c[0], comps.c[1], select(func.max(Vote.created_at)).where(on_board).scalar_subquery(),
            select(func.max(Vote.created_at)).where(on_board, Vote.voter_id == (voter_id or "")).scalar_subquery(),
            select(func.count()).select_from(Vote).where(on_board, *([Vote.created_at > since] if since else []))
            .scalar_subquery()]
    if s.bind.dialect.name == "postgresql":
        cols.append(func.set_config("synchronous_commit", "off", True))   # this transaction only
    row = (await s.execute(select(*cols))).one()
    return _Versions((row[0], row[1]), row[2], row[3], row[4])


async def candidate_rows(s: AsyncSession, board_id: str, tags: Mapping[str, Sequence[str]]) -> list[tuple]:
    """(comparison, [(take, model), …], tags) for every comparison of the board that can be
    voted on now: two or more ready takes, none still being made. Oldest first."""
    by: dict[str, list] = {}
    pending: set[str] = set()
    result = await s.execute(
        select(Take.comparison_id, Take.id, Take.model_id, Take.status)
        .join(Comparison, Comparison.id == Take.comparison_id).where(Comparison.board_id == board_id)
        .order_by(Comparison.created_at, Comparison.id, Take.created_at, Take.id))
    for cid, tid, model, status in result:
        takes = by.setdefault(cid, [])
        if status == "ready":
            takes.append((tid, model))
        elif status not in TERMINAL_STATES:
            pending.add(cid)
    return [(cid, takes, list(tags.get(cid, ()))) for cid, takes in by.items() if len(takes) >= 2 and cid not in pending]


def _tag_key(tags: Mapping[str, Sequence[str]] | None) -> object:
    return "board" if tags is None else hash(frozenset((k, tuple(v)) for k, v in tags.items()))


async def _fits(s: AsyncSession, board_id: str, cands: Candidates) -> tuple[Ranking, dict[str, Ranking]]:
    """The overall fit and one per tag with votes, in a worker thread (numpy work)."""
    out = await lb.load_outcomes(s, [board_id], "overall")
    fit = await asyncio.to_thread(rank, out, rounds=ROUNDS, seed=lb.SEED, min_votes=lb.MIN_VOTES)
    tag_fits = {}
    for g, tag in enumerate(cands.tags):
        ids = [cands.ids[i] for i in np.flatnonzero(cands.tag_of[:, g])]
        tout = await lb.load_outcomes(s, [board_id], "overall", comparison_ids=ids)
        if tout.n_ballots:
            tag_fits[tag] = await asyncio.to_thread(rank, tout, rounds=ROUNDS, seed=lb.SEED, min_votes=lb.MIN_VOTES)
    return fit, tag_fits


async def _entry(s: AsyncSession, board_id: str, voter_id: str | None,
                 tags: Mapping[str, Sequence[str]] | None) -> tuple[_Entry, _Versions]:
    """The board's cached candidates, fit and beliefs, brought up to date (module docstring)."""
    now, tkey = time.monotonic(), _tag_key(tags)
    e = _cache.get(board_id)
    v = await _versions(s, board_id, voter_id, e.fit_key if e is not None and e.fit is not None else None)
    if e is None or e.cand_key != v.comparisons or e.tag_key != tkey:
        e = _carry(e, await _read(s, board_id, tags, v.comparisons, tkey))
    elif now - e.read_at > REREAD_S:
        e.read_at = now                   # once per REREAD_S, in the background
        _reread_later(s.bind, board_id, tags, e)
    if e.fit is None or v.voted_at != e.fit_key:
        if e.fit is None or v.behind >= max(1.0, REFIT_SHARE * e.fit_votes) or now - e.fit_at > REFIT_S:
            e.fit, e.tag_fits = await _fits(s, board_id, e.cands)
            e.fit_key, e.fit_votes, e.fit_at, e.state = v.voted_at, e.fit.votes, now, None
    if e.state is None:
        e.state = beliefs(e.cands, e.fit, e.tag_fits)
    _cache[board_id] = e
    _cache.move_to_end(board_id)
    while len(_cache) > CACHED_BOARDS:
        _cache.popitem(last=False)
    return e, v


async def _read(s: AsyncSession, board_id: str, tags: Mapping[str, Sequence[str]] | None, key: tuple,
                tkey: object) -> _Entry:
    if tags is None:
        tags = await tags_by_board_comparison(s, board_id)
    cands = Candidates.from_rows(await candidate_rows(s, board_id, tags))
    return _Entry(cands, key, time.monotonic(), tkey, {cid: i for i, cid in enumerate(cands.ids)})


def _carry(old: _Entry | None, new: _Entry) -> _Entry:
    """The new candidates keep the old fit and beliefs when the models and tags are the same."""
    if old is not None and old.cands.models == new.cands.models and old.cands.tags == new.cands.tags:
        new.fit_key, new.fit_votes, new.fit_at, new.fit, new.tag_fits, new.state = (
            old.fit_key, old.fit_votes, old.fit_at, old.fit, old.tag_fits, old.state)
    return new


def _reread_later(bind, board_id: str, tags, seen: _Entry) -> None:
    """Re-read the candidates (takes that finished, tags an editor changed) on a session of its
    own while calls go on with the cached ones — safe, since a ready take stays ready; a change
    of the comparisons' count is read at once instead (`_entry`). Swapped in only if the cache
    still holds the entry it was started from."""
    async def reread() -> None:
        try:
            async with AsyncSession(bind, expire_on_commit=False) as s2:
                fresh = await _read(s2, board_id, tags, seen.cand_key, seen.tag_key)
            async with _locks.setdefault(board_id, asyncio.Lock()):
                if _cache.get(board_id) is seen:
                    _cache[board_id] = _carry(seen, fresh)
        except Exception:           # the next REREAD_S tries again; calls go on meanwhile
            log.warning("next: could not re-read the candidates of board %s", board_id, exc_info=True)

    task = asyncio.create_task(reread(), name="next-reread")
    _background.add(task)
    task.add_done_callback(_background.discard)


async def _allowed(s: AsyncSession, e: _Entry, board_id: str, voter_id: str | None, voter_at) -> np.ndarray:
    """Candidates the voter has not voted on, as a mask: kept per voter with the voter's latest
    vote, so it is re-read only after they voted (a voter with no vote there reads nothing)."""
    kept = e.voted.get(voter_id or "")
    if kept is not None and kept[0] == voter_at:
        e.voted.move_to_end(voter_id or "")
        return kept[1]
    allowed = np.ones(len(e.cands.ids), dtype=bool)
    if voter_id and voter_at is not None:
        voted = (await s.execute(select(Vote.comparison_id).where(
            Vote.voter_id == voter_id, Vote.board_id == board_id, Vote.superseded_at.is_(None)).distinct())).scalars()
        allowed[[e.row_of[c] for c in voted if c in e.row_of]] = False
    e.voted[voter_id or ""] = (voter_at, allowed)
    while len(e.voted) > CACHED_VOTERS:
        e.voted.popitem(last=False)
    return allowed


async def next_pick(s: AsyncSession, board: Board, voter_id: str, after: str | None = None,
                    tags: Mapping[str, Sequence[str]] | None = None, *, epsilon: float = EPSILON,
                    rng: np.random.Generator | None = None) -> NextPick | None:
    """The voter's next pick on the board, recorded as a `Pick` row (committed); None when
    every comparison that can be voted on now has their vote (or is `after`, the one on screen)."""
    lock = _locks.setdefault(board.id, asyncio.Lock())
    async with lock:
        e, v = await _entry(s, board.id, voter_id, tags)
        allowed = await _allowed(s, e, board.id, voter_id, v.voter_at)
        if after in e.row_of and allowed[e.row_of[after]]:
            allowed = allowed.copy()
            allowed[e.row_of[after]] = False
        got = pick(e.cands, None, epsilon=epsilon, rng=rng, state=e.state, allowed=allowed)
        if got is None:
            return None
        e.state.record(e.cands, got, row=e.row_of[got.comparison])
    row = new_pick(board.id, voter_id, got.comparison, got.takes, got.sampled_by, got.probability)
    await s.execute(insert(Pick).values(**{c.key: getattr(row, c.key) for c in Pick.__table__.columns}))
    await s.commit()
    return NextPick(got.comparison, row.id, got.takes, got.sampled_by, got.probability)
