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

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import Conflict, Forbidden, NotFound, SignInRequired
from app.models import BOARD_ROLES, Board, BoardWebhook, Comparison, Membership, Pick, Suite, Take, Voter, utcnow
from app.picks import PICK_LIFETIME

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


def decide(actor: Actor, board: Board, member: str | None, action: str, not_found: str,
           comparison_link: str | None = None) -> str:
    """require's rule, given the actor's membership role (see require). For a comparison or
    its takes, `comparison_link` is the comparison's read-only link token: whoever opened it
    (and has no role on the board) is a viewer of that comparison only (app/links.py)."""
    role = "owner" if actor.superuser else role_from(actor, board, member)
    if role is None and comparison_link and comparison_link in actor.link_tokens:
        role = "viewer"
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
        select(Board, Comparison).join(Comparison, Comparison.board_id == Board.id)
        .where(Comparison.id == comparison_id), actor).execution_options(populate_existing=True))).first()
    if row is None:
        raise NotFound(not_found)
    board, c, member = row
    role = decide(actor, board, member, action, not_found, c.link_token)
    # Two queries in all (the board and comparison came with the role): the takes, then both
    # relationships set as loaded, where selectin loaders cost two more round trips.
    takes = (await s.execute(select(Take).where(Take.comparison_id == comparison_id)
                             .order_by(Take.created_at).execution_options(populate_existing=True))).scalars().all()
    set_committed_value(c, "board", board)
    set_committed_value(c, "takes", list(takes))
    return c, role


async def suite_for(s: AsyncSession, actor: Actor, suite_id: str, action: str = "view") -> tuple[Suite, str]:
    """A suite and the actor's role, by its board's rules (no role: the 404 of a missing suite)."""
    not_found = f"no suite {suite_id!r}"
    row = (await s.execute(_with_member_role(
        select(Board, Suite).join(Suite, Suite.board_id == Board.id).where(Suite.id == suite_id), actor))).first()
    if row is None:
        raise NotFound(not_found)
    return row[1], decide(actor, row[0], row[2], action, not_found)


async def take_for(s: AsyncSession, actor: Actor, take_id: str, action: str = "view",
                   not_found: str = "no such take") -> tuple[Take, str]:
    row = (await s.execute(_with_member_role(
        select(Take, Board, Comparison.link_token).join(Comparison, Comparison.id == Take.comparison_id)
        .join(Board, Board.id == Comparison.board_id).where(Take.id == take_id), actor))).first()
    if row is None:
        raise NotFound(not_found)
    return row[0], decide(actor, row[1], row[3], action, not_found, row[2])


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


async def boards_where(s: AsyncSession, actor: Actor, action: str, visible: list[Board] | None = None) -> list[Board]:
    """Unarchived boards on which the actor may do `action` (e.g. the form's board list).
    `visible`: this actor's `visible_boards`, when the caller has them already (one query less)."""
    if visible is None:
        boards = await visible_boards(s, actor, include_archived=False)
    else:
        boards = [b for b in visible if b.archived_at is None]
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


# ---- the vote path's one query ------------------------------------------------------------------

@dataclass
class BoardFacts:
    """What the access rule and a ballot read of a board (app.votes.record_ballot)."""

    id: str
    slug: str
    name: str
    visibility: str
    link_token: str | None
    archived_at: object
    blind: bool
    criteria: list


@dataclass
class TakeFacts:
    id: str
    status: str
    model_id: str
    created_at: object


@dataclass
class BallotTarget:
    """A comparison as a ballot needs it: its board, its takes' ids, states and models, and
    whether the voter's row exists yet (so a returning voter costs no write)."""

    id: str
    source_image: str | None
    board: BoardFacts
    takes: list[TakeFacts]
    voter_exists: bool
    prompt: str = ""
    observer: bool = False      # the actor's membership is marked observer (app.blind.observing)
    # Whether the voter has an unused pick here (app.picks) and the board an active webhook
    # (app.webhooks): when not, the vote path skips asking again.
    open_pick: bool = True
    hooks: bool = True

    @property
    def board_id(self) -> str:
        return self.board.id


def _ballot_query():
    c, b, m, t, v = (Comparison.__table__, Board.__table__, Membership.__table__, Take.__table__,
                     Voter.__table__)
    p, w = Pick.__table__, BoardWebhook.__table__
    voter = select(v.c.id).where(v.c.id == bindparam("voter")).exists().label("voter_exists")
    pick = select(p.c.id).where(p.c.voter_id == bindparam("voter"), p.c.comparison_id == c.c.id,
                                p.c.used_at.is_(None), p.c.created_at >= bindparam("pick_since")).exists()
    hooks = select(w.c.id).where(w.c.board_id == b.c.id, w.c.active.is_(True)).exists()
    return (select(b.c.id, b.c.slug, b.c.name, b.c.visibility, b.c.link_token, b.c.archived_at, b.c.blind,
                   b.c.criteria, c.c.source_image, c.c.prompt, c.c.link_token.label("comparison_link"), m.c.role,
                   m.c.observer, voter, pick.label("open_pick"), hooks.label("hooks"), t.c.id.label("take_id"),
                   t.c.status, t.c.model_id, t.c.created_at)
            .select_from(c.join(b, b.c.id == c.c.board_id)
                         .outerjoin(m, (m.c.board_id == b.c.id) & (m.c.user_id == bindparam("user")))
                         .outerjoin(t, t.c.comparison_id == c.c.id))
            .where(c.c.id == bindparam("comparison")).order_by(t.c.created_at, t.c.id))


_BALLOT = _ballot_query()


async def comparison_for_ballot(s: AsyncSession, actor: Actor, comparison_id: str, voter_id: str | None,
                                action: str = "vote") -> tuple[BallotTarget, str]:
    """comparison_for for the vote path, in one round trip: the board, the actor's membership
    role, the takes, the voter's existence, whether they have an open pick and whether the
    board has webhooks come from one Core query (no ORM loading). A private comparison and a
    missing one still run the same one statement."""
    rows = (await s.execute(_BALLOT, {"comparison": comparison_id, "user": actor.user_id or "",
                                      "voter": voter_id or "", "pick_since": utcnow() - PICK_LIFETIME})).all()
    not_found = f"no comparison {comparison_id!r}"
    if not rows:
        raise NotFound(not_found)
    r = rows[0]
    board = BoardFacts(r.id, r.slug, r.name, r.visibility, r.link_token, r.archived_at, r.blind, r.criteria)
    role = decide(actor, board, r.role, action, not_found, r.comparison_link)
    takes = [TakeFacts(x.take_id, x.status, x.model_id, x.created_at) for x in rows if x.take_id is not None]
    return BallotTarget(comparison_id, r.source_image, board, takes, bool(r.voter_exists), r.prompt,
                        bool(r.observer), bool(r.open_pick), bool(r.hooks)), role
