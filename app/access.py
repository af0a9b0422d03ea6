"""Who can do what on which board. Every route that touches a board, a comparison, a take, a
vote, a comment or a media file asks here, through `require` or one of the `*_for` loaders.

Roles, each able to do what the ones before it can:

    viewer   see the board, its comparisons, media, comments and vote CSV
    voter    + vote and comment
    editor   + start comparisons on the board, re-roll, cancel and accept takes
    owner    + rename, describe, archive, share, set a budget, invite and manage members

Where a role comes from: a membership (it stands, even below voter, on a shared board); for
non-members, the board's visibility (`public`: everyone is a voter; `link`: whoever opened the
share link is a voter); being an admin (owner everywhere); or open mode (no account exists yet:
everyone is owner everywhere, the app as it was before accounts).

Someone without any role on a board gets exactly the 404 a board that does not exist would
give, with the same message, for every page, media file, CSV and API object of it: there is
never a hint that it exists. Someone who may see a board but not do a thing gets a 403 that
says which role it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.errors import Conflict, Forbidden, NotFound, SignInRequired
from app.models import BOARD_ROLES, Board, Comparison, Membership, Take

RANK = {r: i for i, r in enumerate(BOARD_ROLES)}
ACTIONS = {"view": "viewer", "vote": "voter", "comment": "voter", "edit": "editor", "manage": "owner"}
# What an archived board still allows: it is read-only until an owner brings it back.
ARCHIVED_ALLOWS = {"view", "manage"}


@dataclass(frozen=True)
class Actor:
    """Whoever makes a request: a user (by session cookie or API token) or an anonymous browser
    (its voter cookie and the share links it has opened)."""

    user_id: str | None = None
    is_admin: bool = False
    voter_id: str | None = None
    open_mode: bool = False
    link_tokens: frozenset[str] = field(default_factory=frozenset)
    via_token: bool = False
    display_name: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def superuser(self) -> bool:
        return self.open_mode or self.is_admin


def role_from(actor: Actor, board: Board, member_role: str | None) -> str | None:
    """The role `actor` has on `board`, given their membership role (None if not a member)."""
    if actor.superuser:
        return "owner"
    role = member_role if member_role in RANK else None
    shared = board.visibility == "public" or (
        board.visibility == "link" and board.link_token is not None and board.link_token in actor.link_tokens)
    # A member's role is what the owner gave them, even where the board is shared: a viewer
    # member stays a viewer (someone asked to watch, not to vote). Shared access is for
    # people who are not members.
    if shared and role is None:
        role = "voter"
    return role


def allows(role: str | None, action: str) -> bool:
    return role is not None and RANK[role] >= RANK[ACTIONS[action]]


async def member_role(s: AsyncSession, board_id: str, user_id: str | None) -> str | None:
    if not user_id:
        return None
    return (await s.execute(select(Membership.role).where(
        Membership.board_id == board_id, Membership.user_id == user_id))).scalar_one_or_none()


async def board_role(s: AsyncSession, actor: Actor, board: Board) -> str | None:
    if actor.superuser:
        return "owner"
    return role_from(actor, board, await member_role(s, board.id, actor.user_id))


async def require(s: AsyncSession, actor: Actor, board: Board, action: str, not_found: str) -> str:
    """The actor's role on the board if it allows `action`; otherwise the 404 `not_found`
    (no role at all: the board's existence stays secret) or a 403 naming the role needed."""
    member = None if actor.superuser else await member_role(s, board.id, actor.user_id)
    return decide(actor, board, member, action, not_found)


def decide(actor: Actor, board: Board, member: str | None, action: str, not_found: str) -> str:
    """require's rule, given the actor's membership role (see require)."""
    role = "owner" if actor.superuser else role_from(actor, board, member)
    if role is None:
        raise NotFound(not_found)
    if not allows(role, action):
        need = ACTIONS[action]
        what = {"vote": "voting", "comment": "commenting", "edit": "adding comparisons, re-rolls and takes' changes",
                "manage": "changing the board and its members"}.get(action, action)
        if not actor.signed_in and not actor.open_mode:
            raise Forbidden(f"sign in: {what} needs the {need} role on this board")
        raise Forbidden(f"your role on this board is {role}; {what} needs {need}")
    if board.archived_at is not None and action not in ARCHIVED_ALLOWS:
        raise Conflict(f"board {board.name!r} is archived (read-only); an owner can restore it")
    return role


def _with_member_role(q, actor: Actor):
    """`q` (which selects Board) with the actor's membership role on it as one more column, so
    a board, comparison or take and the right to see it come from one query: a private object
    and a missing one then cost the same work, and answer in the same time (no timing hint)."""
    return q.add_columns(Membership.role).outerjoin(
        Membership, (Membership.board_id == Board.id) & (Membership.user_id == (actor.user_id or "")))


async def board_for(s: AsyncSession, actor: Actor, slug: str, action: str = "view") -> tuple[Board, str]:
    not_found = f"no board {slug!r}"
    row = (await s.execute(_with_member_role(select(Board).where(Board.slug == slug), actor))).first()
    if row is None:
        raise NotFound(not_found)
    return row[0], decide(actor, row[0], row[1], action, not_found)


async def comparison_for(s: AsyncSession, actor: Actor, comparison_id: str, action: str = "view"
                         ) -> tuple[Comparison, str]:
    """The comparison with its takes and board, and the actor's role; its takes are loaded
    only once the actor may see it (see _with_member_role)."""
    not_found = f"no comparison {comparison_id!r}"
    row = (await s.execute(_with_member_role(
        select(Board).join(Comparison, Comparison.board_id == Board.id).where(Comparison.id == comparison_id),
        actor))).first()
    if row is None:
        raise NotFound(not_found)
    role = decide(actor, row[0], row[1], action, not_found)
    c = (await s.execute(
        select(Comparison).where(Comparison.id == comparison_id)
        .options(selectinload(Comparison.takes), selectinload(Comparison.board))
        .execution_options(populate_existing=True)
    )).scalar_one()
    return c, role


async def take_for(s: AsyncSession, actor: Actor, take_id: str, action: str = "view",
                   not_found: str = "no such take") -> tuple[Take, str]:
    row = (await s.execute(_with_member_role(
        select(Take, Board).join(Comparison, Comparison.id == Take.comparison_id)
        .join(Board, Board.id == Comparison.board_id).where(Take.id == take_id), actor))).first()
    if row is None:
        raise NotFound(not_found)
    return row[0], decide(actor, row[1], row[2], action, not_found)


async def visible_boards(s: AsyncSession, actor: Actor, *, include_archived: bool = True) -> list[Board]:
    """Every board the actor may see: member boards, public ones and link boards whose link
    they opened (all of them for an admin or in open mode)."""
    q = select(Board)
    if not actor.superuser:
        conds = [Board.visibility == "public"]
        if actor.user_id:
            conds.append(Board.id.in_(select(Membership.board_id).where(Membership.user_id == actor.user_id)))
        if actor.link_tokens:
            conds.append((Board.visibility == "link") & Board.link_token.in_(sorted(actor.link_tokens)))
        q = q.where(or_(*conds))
    if not include_archived:
        q = q.where(Board.archived_at.is_(None))
    return list((await s.execute(q.order_by(Board.name, Board.id))).scalars().all())


async def roles_by_board(s: AsyncSession, actor: Actor, boards: list[Board]) -> dict[str, str]:
    """{board id: role} for a list of boards, in one query."""
    if actor.superuser:
        return {b.id: "owner" for b in boards}
    members = {}
    if actor.user_id and boards:
        members = dict((await s.execute(select(Membership.board_id, Membership.role).where(
            Membership.user_id == actor.user_id, Membership.board_id.in_([b.id for b in boards])))).all())
    out = {}
    for b in boards:
        role = role_from(actor, b, members.get(b.id))
        if role:
            out[b.id] = role
    return out


async def boards_where(s: AsyncSession, actor: Actor, action: str) -> list[Board]:
    """Unarchived boards on which the actor may do `action` (e.g. the form's board list)."""
    boards = await visible_boards(s, actor, include_archived=False)
    roles = await roles_by_board(s, actor, boards)
    return [b for b in boards if allows(roles.get(b.id), action)]


def can_create(actor: Actor) -> bool:
    """Starting comparisons and boards costs money or makes things: members only (anyone in
    open mode)."""
    return actor.open_mode or actor.signed_in


def require_signed_in(actor: Actor, what: str) -> None:
    if not can_create(actor):
        raise SignInRequired(f"sign in to {what}")


async def target_board(s: AsyncSession, actor: Actor, slug: str | None) -> Board:
    """The board a new comparison goes to: the named one (the actor must be an editor there)
    or the actor's own "My comparisons" (the shared default board in open mode)."""
    from app.boards import default_board

    require_signed_in(actor, "start comparisons")
    if slug:
        board, _ = await board_for(s, actor, slug, "edit")
        return board
    return await default_board(s, None if actor.open_mode else actor.user_id)
