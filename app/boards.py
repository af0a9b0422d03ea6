"""Boards: lookups, the default board that comparisons without a board go to (each user's own
"My comparisons" once accounts exist), and creating and changing boards and their settings
(blind or open voting, the criteria asked, visibility, budget). Who may do what on a board —
and so which boards' votes a leaderboard or an export may include — is app.access's business."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import dialect_insert
from app.errors import Conflict, Forbidden, InputError, NotFound
from app.ids import new_id
from app.models import Board, Comparison, Membership, utcnow

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


async def default_board(session: AsyncSession, user_id: str | None = None) -> Board:
    """Where comparisons sent without a board go: the shared "default" board in open mode (no
    accounts), each user's own private "My comparisons" once accounts exist.

    Made inside the caller's transaction, as personal_board is and for the same reason: a
    refused comparison leaves no board behind, and two first comparisons at once meet in ON
    CONFLICT DO NOTHING. Open voting, so takes show up as soon as each is ready (shared boards
    are blind by default, Board.blind; this one can be switched)."""
    if user_id is not None:
        return await personal_board(session, user_id)
    default = select(Board).where(Board.slug == DEFAULT_SLUG)
    board = (await session.execute(default)).scalar_one_or_none()
    if board:
        return board
    insert = dialect_insert(session.bind.dialect.name)
    await session.execute(insert(Board).values(
        id=new_id(), slug=DEFAULT_SLUG, name="My comparisons", visibility="private", blind=False,
        criteria=["overall"], created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["slug"]))
    return (await session.execute(default)).scalar_one()


async def board_by_slug(session: AsyncSession, slug: str) -> Board:
    board = (await session.execute(select(Board).where(Board.slug == slug))).scalar_one_or_none()
    if board is None:
        raise NotFound(f"no board {slug!r}")
    return board


async def personal_board(session: AsyncSession, user_id: str) -> Board:
    """The user's own "My comparisons": private, open voting, a random slug, owned by them.

    Made inside the caller's transaction and not committed here: a comparison that is then
    refused leaves no board behind. Two first comparisons at once both INSERT; ON CONFLICT
    DO NOTHING lets the second find the first's board (a SAVEPOINT would do the same on
    PostgreSQL, but on SQLite the outermost SAVEPOINT's RELEASE commits)."""
    mine = select(Board).where(Board.personal_user_id == user_id)
    board = (await session.execute(mine)).scalar_one_or_none()
    if board:
        return board
    insert = dialect_insert(session.bind.dialect.name)
    await session.execute(insert(Board).values(
        id=new_id(), slug=f"my-{new_id(12)}", name="My comparisons", visibility="private", blind=False,
        criteria=["overall"], personal_user_id=user_id, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["personal_user_id"]))
    board = (await session.execute(mine)).scalar_one()
    await session.execute(insert(Membership).values(id=new_id(), board_id=board.id, user_id=user_id, role="owner",
                                                    created_at=utcnow())
                          .on_conflict_do_nothing(index_elements=["board_id", "user_id"]))
    return board


# ---- creating and changing boards -------------------------------------------------------------

MAX_DESCRIPTION = 2000
UNSET: Any = object()


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


def check_budget_value(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        v = round(float(value), 2)
    except (TypeError, ValueError):
        raise InputError(f"the budget must be an amount in US dollars, not {str(value)[:40]!r}") from None
    if not (0 <= v < 1e9):
        raise InputError("the budget must be 0 or more US dollars")
    return v


def _slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60].strip("-")


def _check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise InputError("the board needs a name")
    if len(name) > 200:
        raise InputError("the board name is over 200 characters")
    return name


def _check_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise InputError(f"the description is over {MAX_DESCRIPTION} characters")
    return description


def new_link_token() -> str:
    return secrets.token_urlsafe(18)


async def create_board(session: AsyncSession, *, name: str, slug: str | None = None, description: str = "",
                       blind: bool = True, criteria: list[str] | None = None, visibility: str = "private",
                       budget_usd: Any = None, owner_id: str | None = None, random_slug: bool = False) -> Board:
    """A shared board (blind by default: reviewers see takes as A, B, C … until they vote).

    With `random_slug` (every board made once accounts exist) the slug gets a random tail, so
    the URL of a private board cannot be guessed, and "slug taken" tells nobody anything."""
    name = _check_name(name)
    errors = []
    base = (slug or "").strip() or _slugify(name) or "board"
    if random_slug:
        base = f"{base[:60].strip('-')}-{new_id(10)}"
    if not SLUG_RE.match(base):
        errors.append(f"slug {base!r} must be 1–80 lowercase letters, digits and dashes (not at either end)")
    if visibility not in VISIBILITIES:
        errors.append(f"visibility must be one of {', '.join(VISIBILITIES)}")
    if errors:
        raise InputError(errors[0], errors)
    board = Board(slug=base, name=name, description=_check_description(description), blind=bool(blind),
                  criteria=check_criteria(criteria if criteria is not None else ["overall"]), visibility=visibility,
                  budget_usd=check_budget_value(budget_usd), link_token=new_link_token())
    if (await session.execute(select(Board.id).where(Board.slug == base))).first():
        raise Conflict(f"a board with slug {base!r} exists already")
    session.add(board)
    try:
        await session.flush()
        if owner_id:
            session.add(Membership(board_id=board.id, user_id=owner_id, role="owner"))
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(f"a board with slug {base!r} exists already") from None
    return board


async def update_board(session: AsyncSession, board: Board, *, name: str | None = None,
                       description: str | None = None, blind: bool | None = None, criteria: list[str] | None = None,
                       visibility: str | None = None, budget_usd: Any = UNSET) -> Board:
    """Rename, describe, switch blind/open voting, criteria, visibility and budget. Votes keep
    the blind flag they were cast with."""
    if name is not None:
        board.name = _check_name(name)
    if description is not None:
        board.description = _check_description(description)
    if criteria is not None:
        board.criteria = check_criteria(criteria)
    if blind is not None:
        board.blind = bool(blind)
    if visibility is not None:
        if visibility not in VISIBILITIES:
            raise InputError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        if board.personal_user_id and visibility != "private":
            raise InputError("“My comparisons” stays private; make a board to share comparisons")
        board.visibility = visibility
        board.link_token = board.link_token or new_link_token()
    if budget_usd is not UNSET:
        board.budget_usd = check_budget_value(budget_usd)
    await session.commit()
    return board


async def set_archived(session: AsyncSession, board: Board, archived: bool) -> Board:
    """Archived boards are read-only (no comparisons, re-rolls, votes or comments) and stay
    readable, with their votes, until restored."""
    board.archived_at = (board.archived_at or utcnow()) if archived else None
    await session.commit()
    return board


async def rotate_link(session: AsyncSession, board: Board) -> Board:
    """A new share link; whoever came in by the old one loses access."""
    board.link_token = new_link_token()
    await session.commit()
    return board


async def board_by_link(session: AsyncSession, token: str) -> Board:
    board = (await session.execute(select(Board).where(Board.link_token == token))).scalar_one_or_none() \
        if token else None
    if board is None or board.visibility not in ("link", "public"):
        raise NotFound("this share link does not work (any more): ask the board's owner for the current one")
    return board


async def set_observer(s: AsyncSession, board: Board, user_id: str | None, is_admin: bool, on: bool) -> bool:
    """Mark (or unmark) the signed-in owner or editor `user_id` an observer of `board`
    (app/blind.py: names, results and comments at once; votes stored as not blind). The
    caller has checked the edit right; an admin who is not a member becomes one, as an owner
    (an admin may manage every board anyway), so the flag has a membership to live on."""
    if user_id is None:
        raise Forbidden("observing a board needs an account: sign in first")
    m = (await s.execute(select(Membership).where(Membership.board_id == board.id,
                                                  Membership.user_id == user_id))).scalar_one_or_none()
    if m is None and is_admin:
        m = Membership(board_id=board.id, user_id=user_id, role="owner")
        s.add(m)
    if m is None or m.role not in ("owner", "editor"):
        raise Forbidden("only an owner or editor of the board can observe it")
    m.observer = on
    await s.commit()
    return on
