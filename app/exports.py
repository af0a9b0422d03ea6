"""CSV exports, streamed row by row from a server-side cursor so memory stays flat.

The vote CSV follows the column layout of public arena vote datasets (model_a, model_b,
winner, judge, tstamp …, winner ∈ model_a | model_b | tie | tie (bothbad)) followed by our
own columns. One row per pairwise outcome: a ranking of N takes appears as its N(N-1)/2 pairs
sharing a ranking_id.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Board, Comparison, Vote, Voter

VOTE_COLUMNS = [
    "vote_id", "board", "comparison_id", "prompt", "criterion", "model_a", "model_b", "winner", "judge",
    "tstamp", "position_a", "position_b", "blind", "vote_kind", "take_a", "take_b", "ranking_id",
]


class _Line:
    def __init__(self):
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, lineterminator="\r\n")

    def rows(self, rows) -> str:
        self.buf.seek(0)
        self.buf.truncate()
        self.writer.writerows(rows)
        return self.buf.getvalue()


async def vote_csv(session: AsyncSession, board_ids: list[str], batch: int = 2000) -> AsyncIterator[str]:
    line = _Line()
    yield "\ufeff" + line.rows([VOTE_COLUMNS])  # BOM: spreadsheets then read UTF-8 prompts correctly
    query = (
        select(Vote.id, Board.slug, Vote.comparison_id, Comparison.prompt, Vote.criterion, Vote.model_a,
               Vote.model_b, Vote.winner, Voter.display_name, Vote.voter_id, Vote.created_at, Vote.position_a,
               Vote.position_b, Vote.blind, Vote.kind, Vote.take_a_id, Vote.take_b_id, Vote.ballot_id)
        .join(Board, Board.id == Vote.board_id)
        .join(Comparison, Comparison.id == Vote.comparison_id)
        .join(Voter, Voter.id == Vote.voter_id)
        .where(Vote.board_id.in_(board_ids), Vote.superseded_at.is_(None))
        .order_by(Vote.created_at, Vote.id)
    )
    result = await session.stream(query.execution_options(yield_per=batch))
    async for part in result.partitions(batch):
        out = []
        for (vid, slug, cid, prompt, criterion, ma, mb, winner, name, voter, ts, pa, pb, blind, kind, ta, tb,
             ballot) in part:
            out.append([vid, slug, cid, prompt, criterion, ma, mb, winner, name or voter, f"{ts.timestamp():.3f}",
                        "" if pa is None else pa, "" if pb is None else pb, "true" if blind else "false", kind,
                        ta, tb, ballot if kind == "ranking" else ""])
        yield line.rows(out)
