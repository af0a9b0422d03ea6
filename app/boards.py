"""Boards: lookups, settings (blind or open voting, the criteria asked), and the default board
that comparisons without a board go to."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, InputError, NotFound
from app.models import Board, Comparison

DEFAULT_SLUG = "default"
CRITERIA = {
    "overall": "Overall",
    "prompt_adherence": "Prompt adherence",
    "motion": "Motion and physics realism",
    "visual_quality": "Visual quality",
    "consistency": "Temporal and character consistency",
    "image_fidelity": "Fidelity to the source image",
}
# Criteria that only make sense for some comparisons: image fidelity needs a source image.
IMAGE_ONLY = {"image_fidelity"}
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
VISIBILITIES = ("private", "link", "public")


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


def check_criteria(criteria: Any) -> list[str]:
    """The board's criteria in CRITERIA order, always with overall (one click votes overall)."""
    if not isinstance(criteria, (list, tuple)) or not all(isinstance(k, str) for k in criteria):
        raise InputError("criteria must be a list of criterion keys")
    unknown = [k for k in criteria if k not in CRITERIA]
    if unknown:
        raise InputError(f"unknown criterion {unknown[0]!r}; known: {', '.join(CRITERIA)}")
    chosen = set(criteria) | {"overall"}
    return [k for k in CRITERIA if k in chosen]


def criteria_for(comparison: Comparison) -> list[str]:
    """What this comparison asks about: its board's criteria, overall first, and image fidelity
    only when there is a source image to be faithful to."""
    chosen = check_criteria(list(comparison.board.criteria or []))
    return [k for k in chosen if k not in IMAGE_ONLY or comparison.source_image]


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:80].strip("-")


async def create_board(session: AsyncSession, *, name: str, slug: str | None = None, description: str = "",
                       blind: bool = True, criteria: list[str] | None = None,
                       visibility: str = "private") -> Board:
    """A shared board. Blind by default: reviewers see takes as A, B, C … until they vote."""
    name = (name or "").strip()
    errors = []
    if not name:
        errors.append("the board needs a name")
    elif len(name) > 200:
        errors.append("the board name is over 200 characters")
    slug = (slug or "").strip() or _slugify(name)
    if not SLUG_RE.match(slug):
        errors.append(f"slug {slug!r} must be 1–80 lowercase letters, digits and dashes (not at either end)")
    if visibility not in VISIBILITIES:
        errors.append(f"visibility must be one of {', '.join(VISIBILITIES)}")
    if errors:
        raise InputError(errors[0], errors)
    chosen = check_criteria(criteria if criteria is not None else ["overall"])
    if (await session.execute(select(Board.id).where(Board.slug == slug))).first():
        raise Conflict(f"a board with slug {slug!r} exists already")
    board = Board(slug=slug, name=name, description=(description or "").strip(), blind=bool(blind),
                  criteria=chosen, visibility=visibility)
    session.add(board)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a board with slug {slug!r} exists already") from None
    return board


async def update_board(session: AsyncSession, board: Board, *, name: str | None = None,
                       description: str | None = None, blind: bool | None = None,
                       criteria: list[str] | None = None) -> Board:
    """Change a board's settings. Votes keep the blind flag they were cast with."""
    if name is not None:
        if not name.strip() or len(name.strip()) > 200:
            raise InputError("the board name must be 1–200 characters")
        board.name = name.strip()
    if description is not None:
        board.description = description.strip()
    if criteria is not None:
        board.criteria = check_criteria(criteria)
    if blind is not None:
        board.blind = bool(blind)
    await session.commit()
    return board


async def visible_boards(session: AsyncSession, viewer_id: str | None = None) -> list[Board]:
    """The boards whose votes this viewer may see in leaderboards and exports.

    The one place that decides it: for now every board (archived ones included: their votes
    still count); access control narrows this function, and every page and export follows."""
    return list((await session.execute(select(Board).order_by(Board.name, Board.id))).scalars().all())
