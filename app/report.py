"""The printable report of a board (or of some of its comparisons: a suite, a tag): the
leaderboard with its intervals, the decisions in words, cost and generation time per model,
attempts to the first accepted take, and posters of the closest calls.

Everything comes from the functions the leaderboard page uses (app/leaderboard.py,
app/verdicts.py), with `comparison_ids` passed through, so a suite's report is this one with
its comparisons. A *close call* is a comparison whose takes' win shares are nearest each
other: per take, (wins + ½ ties) / its overall pairwise votes there; the gap between the best
and the runner-up, smallest first (ties on the gap: more votes first); at least
`CLOSE_MIN_VOTES` votes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app import leaderboard as lb
from app.models import Board, Comparison, Take, Vote, utcnow
from app.ranking import Ranking
from app.verdicts import NameOf, Verdicts, board_verdicts

CLOSE_CALLS = 6
CLOSE_MIN_VOTES = 2


@dataclass
class CloseCall:
    comparison: Comparison
    gap: float                       # best share − runner-up share
    votes: int
    shares: list[tuple[Take, float]] = field(default_factory=list)   # best first


@dataclass
class Report:
    board: Board
    ranking: Ranking
    verdicts: list[Verdicts]
    table: list[lb.ModelStats]
    close_calls: list[CloseCall]
    comparisons: int
    made_at: datetime


def close_calls_from(counts: Mapping[str, Mapping[str, list[float]]], most: int = CLOSE_CALLS) -> list[tuple[str, float, int, list]]:
    """(comparison, gap, votes, [(take, share), …]) from {comparison: {take: [points, votes]}}
    with pairwise votes counted twice (once per take), closest first."""
    out = []
    for cid, takes in counts.items():
        shares = sorted(((t, p / n) for t, (p, n) in takes.items() if n), key=lambda x: (-x[1], x[0]))
        votes = int(sum(n for _, n in takes.values()) // 2)
        if len(shares) >= 2 and votes >= CLOSE_MIN_VOTES:
            out.append((cid, shares[0][1] - shares[1][1], votes, shares))
    out.sort(key=lambda x: (x[1], -x[2], x[0]))
    return out[:most]


async def _close_calls(s: AsyncSession, board: Board, comparison_ids: Sequence[str] | None) -> list[CloseCall]:
    q = (select(Vote.comparison_id, Vote.take_a_id, Vote.take_b_id, Vote.winner, func.count())
         .where(Vote.board_id == board.id, Vote.superseded_at.is_(None), Vote.criterion == "overall")
         .group_by(Vote.comparison_id, Vote.take_a_id, Vote.take_b_id, Vote.winner))
    if comparison_ids is not None:
        q = q.where(Vote.comparison_id.in_(list(comparison_ids)))
    counts: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    for cid, ta, tb, winner, n in (await s.execute(q)).all():
        pa = 1.0 if winner == "model_a" else 0.0 if winner == "model_b" else 0.5
        for take, points in ((ta, pa), (tb, 1.0 - pa)):
            counts[cid][take][0] += points * n
            counts[cid][take][1] += n
    found = close_calls_from(counts)
    if not found:
        return []
    rows = {c.id: c for c in (await s.execute(select(Comparison).where(Comparison.id.in_([f[0] for f in found]))
                                              .options(selectinload(Comparison.takes)))).scalars()}
    calls = []
    for cid, gap, votes, shares in found:
        takes = {t.id: t for t in rows[cid].takes}
        calls.append(CloseCall(rows[cid], gap, votes, [(takes[t], sh) for t, sh in shares if t in takes]))
    return calls


async def build_report(s: AsyncSession, board: Board, name_of: NameOf, *, named: bool = True,
                       comparison_ids: Sequence[str] | None = None,
                       tags: Mapping[str, Sequence[str]] | None = None) -> Report:
    """The report of `board`, of all its comparisons or only `comparison_ids`; `tags` (comparison
    id → tags) adds per-tag decisions. `named`: whether the reader may see model names
    (app/blind.py rule 9; the decisions then say "#1", "#2" …)."""
    ids = [board.id]
    ranking = await lb.leaderboard(s, ids, "overall", comparison_ids=comparison_ids)
    criteria = await lb.criteria_with_votes(s, ids)
    verdicts = await board_verdicts(s, ids, criteria, name_of, named=named, tags=tags or {},
                                    comparison_ids=comparison_ids)
    table = await lb.comparison_table(s, ids, comparison_ids=comparison_ids)
    q = select(func.count()).select_from(Comparison).where(Comparison.board_id == board.id)
    if comparison_ids is not None:
        q = q.where(Comparison.id.in_(list(comparison_ids)))
    return Report(board, ranking, verdicts, table, await _close_calls(s, board, comparison_ids),
                  (await s.execute(q)).scalar_one(), utcnow())
