"""Boards: lookups and the default board that comparisons without a board go to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import Board

DEFAULT_SLUG = "default"
CRITERIA = {
    "overall": "Overall",
    "prompt_adherence": "Prompt adherence",
    "motion": "Motion and physics realism",
    "visual_quality": "Visual quality",
    "consistency": "Temporal and character consistency",
    "image_fidelity": "Fidelity to the source image",
}


async def default_board(session: AsyncSession) -> Board:
    board = (await session.execute(select(Board).where(Board.slug == DEFAULT_SLUG))).scalar_one_or_none()
    if board:
        return board
    try:
        async with session.begin_nested():
            # Your own comparisons: open voting, so takes show up as soon as each is ready.
            # Shared boards are blind by default (Board.blind), and this one can be switched.
            board = Board(slug=DEFAULT_SLUG, name="My comparisons", visibility="private", blind=False,
                          criteria=["overall"])
            session.add(board)
    except IntegrityError:  # created concurrently
        board = (await session.execute(select(Board).where(Board.slug == DEFAULT_SLUG))).scalar_one()
    return board


async def board_by_slug(session: AsyncSession, slug: str) -> Board:
    board = (await session.execute(select(Board).where(Board.slug == slug))).scalar_one_or_none()
    if board is None:
        raise NotFound(f"no board {slug!r}")
    return board
