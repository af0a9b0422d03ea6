"""The take CSV: one row per take of the boards, with what was asked and what came back — the
delivered-as-asked check (app/delivery.py), the take checks (app/take_checks.py) and both costs
(the estimate and, where the provider reported usage, the actual cost).

Blind boards follow the vote CSV's rule (app/exports.py, app.blind.csv_hidden_boards): a
reviewer who votes blind gets no row of a comparison they have not voted on, since a row pairs
a take id with its model. Cells typed by people (the prompt) are made formula-safe the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.exports import CsvLines, _flag, header, safe_cell
from app.models import Board, Comparison, Take, Vote

TAKE_COLUMNS = [
    "take", "board", "comparison_id", "prompt", "model", "provider", "attempt", "status", "duration_s",
    "width", "height", "fps", "has_audio", "cost_estimate_usd", "cost_usd", "actual_cost_usd", "accepted",
    "as_asked", "delivery_notes", "checks_flagged", "check_flags", "black_fraction", "frozen_fraction",
    "hard_cuts", "mean_motion", "flicker", "sharpness", "loudness_lufs", "silent_fraction", "created_at",
    "finished_at",
]


def _n(value) -> str:
    return "" if value is None else str(value)


def take_row(take: Take, slug: str, prompt: str, cell=safe_cell) -> list[str]:
    k = take.checks or {}
    audio = k.get("audio") or {}
    return [
        take.id, slug, take.comparison_id, cell(prompt or ""), take.model_id, take.provider, take.attempt,
        take.status, _n(take.duration_s), _n(take.width), _n(take.height), _n(take.fps), _flag(take.has_audio),
        _n(take.cost_estimate_usd), _n(take.cost_usd), _n(take.actual_cost_usd), _flag(take.accepted),
        _flag(take.as_asked), "; ".join(take.delivery_notes or []), _flag(take.checks_flagged),
        "; ".join(k.get("flags") or []), _n(k.get("black_fraction")), _n(k.get("frozen_fraction")),
        _n(len(k["hard_cuts"]) if "hard_cuts" in k else None), _n(k.get("mean_motion")), _n(k.get("flicker")),
        _n(k.get("sharpness")), _n(audio.get("loudness_lufs")), _n(audio.get("silent_fraction")),
        take.created_at.isoformat(), take.finished_at.isoformat() if take.finished_at else "",
    ]


async def take_csv(session: AsyncSession, board_ids: Sequence[str], *, hidden_for: tuple[Sequence[str], str | None] = ((), None),
                   batch: int = 2000, raw: bool = False) -> AsyncIterator[bytes]:
    """Every take of these boards, oldest first; `hidden_for` = (blind boards, voter) as in
    app.exports.vote_csv."""
    yield header(TAKE_COLUMNS)
    if not board_ids:
        return
    hidden, voter_id = list(hidden_for[0]), hidden_for[1]
    q = (select(Take, Board.slug, Comparison.prompt).join(Comparison, Comparison.id == Take.comparison_id)
         .join(Board, Board.id == Comparison.board_id).where(Board.id.in_(list(board_ids)))
         .order_by(Take.created_at, Take.id))
    if hidden:
        mine = select(Vote.comparison_id).where(Vote.voter_id == (voter_id or ""), Vote.superseded_at.is_(None))
        q = q.where(Board.id.not_in(hidden) | Comparison.id.in_(mine))
    lines, cell = CsvLines(), (str if raw else safe_cell)
    result = await session.stream(q.execution_options(yield_per=batch))
    async for part in result.partitions(batch):
        yield lines.rows([take_row(take, slug, prompt, cell) for take, slug, prompt in part]).encode()
