"""Ballot counts kept as votes are cast, so a leaderboard never folds a million votes.

A ballot (a pair vote, a best-of-N pick, a ranking) stays whole in the ranking: the bootstrap
resamples it as one judgement. So what is counted is the ballot's *pattern*: its active
pairs as (model_a, model_b, winner, side) rows, sorted, folded into one text key. Table
`vote_counts` holds, per board, criterion and blindness, how many active ballots have each
pattern; a board with a million votes has a few hundred patterns.

The counts change only inside a vote's own transaction (app.votes.write_votes):

- a new ballot adds 1 to its pattern;
- a ballot that loses pairs to a later vote (supersede) moves from its old pattern (its
  remaining pairs plus the ones just superseded) to its new one (the remaining pairs), or
  leaves the counts when none remain.

The rows those pairs come from are locked by the supersede (UPDATE … RETURNING) and the
ballot's remaining pairs are read FOR UPDATE, so two transactions never both move the same
ballot. `rebuild` recounts from the votes table (migration 0010, benchmarks that insert
votes directly, tests); `fold_from_votes` is that recount's query, the ground truth the kept
counts are tested against.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import String, and_, bindparam, case, cast, delete, func, select

from app.db import dialect_insert
from app.models import Vote, VoteCount

UNIT, RECORD = "\x1f", "\x1e"   # ASCII unit and record separators: never in a model id or winner
Row = tuple[str, str, str, int]            # model_a, model_b, winner, side
Key = tuple[str, str, bool, str]           # board_id, criterion, blind, pattern

# +1: take a was shown first (further left), −1: take b was, 0: unknown — as app.ranking.side_of
SIDE = case(
    (Vote.position_a.is_(None) | Vote.position_b.is_(None) | (Vote.position_a == Vote.position_b), 0),
    (Vote.position_a < Vote.position_b, 1),
    else_=-1,
)


def side(position_a: int | None, position_b: int | None) -> int:
    """SIDE, in Python."""
    if position_a is None or position_b is None or position_a == position_b:
        return 0
    return 1 if position_a < position_b else -1


def pattern_key(rows: Iterable[Row]) -> str:
    """The canonical key of a ballot's rows: sorted, so row order never makes two keys."""
    return RECORD.join(UNIT.join((a, b, w, str(s))) for a, b, w, s in sorted(rows))


def parse_pattern(key: str) -> tuple[Row, ...]:
    out = []
    for part in key.split(RECORD):
        a, b, w, s = part.split(UNIT)
        out.append((a, b, w, int(s)))
    return tuple(out)


def row_of(v) -> Row:
    """A vote (ORM row or a RETURNING row) as a pattern row."""
    return (v.model_a, v.model_b, v.winner, side(v.position_a, v.position_b))


# ---- keeping them -------------------------------------------------------------------------------

_FIELDS = ("board_id", "criterion", "blind", "pattern", "ballots")


@functools.cache
def _upsert(dialect: str):
    """INSERT one count row or add to it; built once per dialect (compiled once)."""
    insert = dialect_insert(dialect)
    stmt = insert(VoteCount.__table__).values({f: bindparam(f) for f in _FIELDS})
    return stmt.on_conflict_do_update(index_elements=["board_id", "criterion", "blind", "pattern"],
                                      set_={"ballots": VoteCount.__table__.c.ballots + stmt.excluded.ballots})


def _values(delta: Counter) -> list[dict]:
    return [dict(zip(_FIELDS, (*k, n))) for k, n in sorted(delta.items()) if n]


async def apply(session, delta: Counter) -> None:
    """Add `delta` ({Key: ±ballots}) to the counts, rows in key order (so two transactions
    lock the rows they share in the same order: no deadlock). A new ballot is one row."""
    stmt = _upsert(session.bind.dialect.name)
    for values in _values(delta):
        await session.execute(stmt, values)


_REMAINING = (select(Vote.ballot_id, Vote.model_a, Vote.model_b, Vote.winner, Vote.position_a, Vote.position_b)
              .where(Vote.superseded_at.is_(None)))


async def moved_ballots(session, superseded: Sequence, exclude: str) -> Counter:
    """The counts' change for the ballots that just lost `superseded` rows (RETURNING rows
    with ballot_id, board_id, criterion, blind and the pattern columns)."""
    lost: dict[str, list] = defaultdict(list)
    for r in superseded:
        if r.ballot_id != exclude:
            lost[r.ballot_id].append(r)
    delta: Counter = Counter()
    if not lost:
        return delta
    q = _REMAINING.where(Vote.ballot_id.in_(sorted(lost))).order_by(Vote.id)
    if session.bind.dialect.name == "postgresql":
        q = q.with_for_update()
    remaining: dict[str, list[Row]] = defaultdict(list)
    for r in (await session.execute(q)).all():
        remaining[r.ballot_id].append(row_of(r))
    for ballot, rows in lost.items():
        head = (rows[0].board_id, rows[0].criterion, bool(rows[0].blind))
        left = remaining.get(ballot, [])
        delta[head + (pattern_key(left + [row_of(r) for r in rows]),)] -= 1
        if left:
            delta[head + (pattern_key(left),)] += 1
    return delta


# ---- recounting from the votes ------------------------------------------------------------------

def fold_from_votes(dialect: str, board_ids: Sequence[str] | None = None):
    """SELECT board_id, criterion, blind, pattern (in the database's row order), ballots:
    every active ballot folded into a key by the database and counted per key."""
    row = Vote.model_a + UNIT + Vote.model_b + UNIT + Vote.winner + UNIT + cast(SIDE, String)
    agg = func.string_agg(row, RECORD) if dialect == "postgresql" else func.group_concat(row, RECORD)
    cond = [Vote.superseded_at.is_(None)]
    if board_ids is not None:
        cond.append(Vote.board_id.in_(list(board_ids)))
    per_ballot = (select(Vote.board_id, Vote.criterion, Vote.blind, agg.label("pattern")).where(and_(*cond))
                  .group_by(Vote.ballot_id, Vote.board_id, Vote.criterion, Vote.blind).subquery())
    p = per_ballot.c
    return select(p.board_id, p.criterion, p.blind, p.pattern, func.count()).group_by(
        p.board_id, p.criterion, p.blind, p.pattern)


def canonical(rows) -> Counter:
    """fold_from_votes' rows with their keys made canonical (the database concatenates a
    ballot's rows in any order) and merged."""
    out: Counter = Counter()
    for board_id, criterion, blind, key, n in rows:
        out[(board_id, criterion, bool(blind), pattern_key(parse_pattern(key)))] += int(n)
    return out


async def rebuild(session, board_ids: Sequence[str] | None = None) -> None:
    """Recount these boards (all when None) from the votes table, in the caller's transaction."""
    dialect = session.bind.dialect.name
    counts = canonical((await session.execute(fold_from_votes(dialect, board_ids))).all())
    table = VoteCount.__table__
    await session.execute(delete(table) if board_ids is None else delete(table).where(
        table.c.board_id.in_(list(board_ids))))
    values = _values(counts)
    if values:
        await session.execute(table.insert(), values)


def rebuild_sync(conn) -> None:
    """rebuild for a synchronous connection (the migration that makes the table)."""
    counts = canonical(conn.execute(fold_from_votes(conn.dialect.name)).all())
    conn.execute(delete(VoteCount.__table__))
    values = _values(counts)
    if values:
        conn.execute(VoteCount.__table__.insert(), values)


# ---- reading them -------------------------------------------------------------------------------

async def patterns(session, board_ids: Sequence[str], criterion: str, *, blind_only: bool = False
                   ) -> dict[tuple[Row, ...], int]:
    """{pattern rows: active ballots} of these boards and criterion."""
    t = VoteCount.__table__
    cond = [t.c.board_id.in_(list(board_ids)), t.c.criterion == criterion]
    if blind_only:
        cond.append(t.c.blind.is_(True))
    rows = (await session.execute(select(t.c.pattern, func.sum(t.c.ballots)).where(*cond)
                                  .group_by(t.c.pattern))).all()
    return {parse_pattern(k): int(n) for k, n in rows if n and int(n) > 0}


async def counted_criteria(session, board_ids: Sequence[str]) -> set[str]:
    t = VoteCount.__table__
    return set((await session.execute(select(t.c.criterion).where(
        t.c.board_id.in_(list(board_ids)), t.c.ballots > 0).distinct())).scalars())


async def pair_counts(session, board_ids: Sequence[str], *, blind_only: bool = False) -> Counter:
    """{(criterion, model_a, model_b, winner): active votes}, from the counts."""
    t = VoteCount.__table__
    cond = [t.c.board_id.in_(list(board_ids)), t.c.ballots > 0]
    if blind_only:
        cond.append(t.c.blind.is_(True))
    out: Counter = Counter()
    for criterion, key, n in (await session.execute(select(t.c.criterion, t.c.pattern, func.sum(t.c.ballots))
                                                    .where(*cond).group_by(t.c.criterion, t.c.pattern))).all():
        for a, b, w, _ in parse_pattern(key):
            out[(criterion, a, b, w)] += int(n)
    return out
