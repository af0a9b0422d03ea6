"""Per-tag winners: for each kind of shot a board's comparisons are tagged with, which model
leads, its win rate there, and whether that lead is settled ("for *character walk*: Kling v3,
78 % win rate, settled").

Each tag gets its own fit over only the votes on comparisons carrying it
(app.leaderboard.leaderboard with `tag=`), and "settled" is app.decisions' rule for the top
model of that fit — the same threshold and the same provisional rule as the board's overall
answer, so a tag with a handful of votes is never settled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.decisions import decide, percent
from app.leaderboard import leaderboard
from app.tags import board_tags


@dataclass(frozen=True)
class TagWinner:
    tag: str
    model: str | None          # None: no votes on this tag yet
    win_rate: float | None
    probability: float | None  # P(it beats the closest other model); None with one model
    settled: bool
    votes: int
    ballots: int


async def tag_winner(s: AsyncSession, board_ids: Sequence[str], tag: str, criterion: str = "overall", *,
                     blind_only: bool = False) -> TagWinner:
    r = await leaderboard(s, board_ids, criterion, blind_only=blind_only, tag=tag)
    if not r.models:
        return TagWinner(tag, None, None, None, False, 0, 0)
    top = decide(r).top
    best = r.by_model()[top.model] if top else r.models[0]
    return TagWinner(tag, best.model, best.win_rate, top.probability if top else None,
                     bool(top and top.settled), r.votes, r.ballots)


async def tag_winners(s: AsyncSession, board_ids: Sequence[str], criterion: str = "overall", *,
                      blind_only: bool = False) -> list[TagWinner]:
    """One row per tag used on these boards, tags in alphabetical order."""
    return [await tag_winner(s, board_ids, tag, criterion, blind_only=blind_only)
            for tag in await board_tags(s, board_ids)]


def say_winner(w: TagWinner, names: dict[str, str] | None = None) -> str:
    """"for character walk: Kling v3, 78 % win rate, settled" (or not settled, or no votes)."""
    if w.model is None:
        return f"for {w.tag}: no votes yet"
    name = (names or {}).get(w.model, w.model)
    rate = "" if w.win_rate is None else f", {round(100 * w.win_rate)} % win rate"
    if w.settled:
        return f"for {w.tag}: {name}{rate}, settled"
    sure = f" ({percent(w.probability)} against the closest)" if w.probability is not None else ""
    return f"for {w.tag}: {name}{rate}, not settled{sure}"


def winner_json(w: TagWinner, names: dict[str, str] | None = None) -> dict:
    return {"tag": w.tag, "model": w.model, "name": (names or {}).get(w.model, w.model) if w.model else None,
            "win_rate": None if w.win_rate is None else round(w.win_rate, 4),
            "probability": None if w.probability is None else round(w.probability, 4), "settled": w.settled,
            "votes": w.votes, "ballots": w.ballots, "says": say_winner(w, names)}
