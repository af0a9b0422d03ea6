"""Invite links and board members.

An invite is a link (/invite/<token>) carrying a role and an expiry; whoever opens it while
signed in (or signs up from it) becomes a member with that role. Only the token's SHA-256 is
stored. The token itself is an HMAC of the invite's id under the app's secret key
(`derived_token`), so the settings page can list each usable invite with its link (and a copy
button) while the database alone still cannot give a link away. Invites made before that (a
random token) keep working, and their link stays shown once. An owner can revoke an invite at
any time, and an expired or revoked invite is refused with a 410 that says which.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import digest
from app.errors import Conflict, Gone, InputError, NotFound
from app.ids import new_id
from app.models import BOARD_ROLES, Board, Invite, Membership, User, utcnow

MAX_HOURS = 30 * 24
DEFAULT_HOURS = 7 * 24
RANK = {r: i for i, r in enumerate(BOARD_ROLES)}


def check_role(role: str) -> str:
    if role not in BOARD_ROLES:
        raise InputError(f"role must be one of {', '.join(BOARD_ROLES)}")
    return role


@dataclass
class NewInvite:
    invite: Invite
    token: str  # the secret part of the link, shown once


def derived_token(secret: str, invite_id: str) -> str:
    """The invite's token: HMAC-SHA256 of its id under the app's secret (192 bits, URL-safe)."""
    mac = hmac.new(secret.encode(), b"takes.invite:" + invite_id.encode(), hashlib.sha256).digest()[:24]
    return base64.urlsafe_b64encode(mac).decode()


def invite_token(invite: Invite, secret: str) -> str | None:
    """The token of an invite made with a derived one (None for older, random ones)."""
    token = derived_token(secret, invite.id)
    return token if hmac.compare_digest(digest(token), invite.token_hash) else None


async def create_invite(s: AsyncSession, board: Board, by_user_id: str | None, role: str,
                        expires_in_hours: float = DEFAULT_HOURS, secret: str | None = None) -> NewInvite:
    """A new invite; with the app's `secret` its token is derived (listable), else random."""
    check_role(role)
    try:
        hours = float(expires_in_hours)
    except (TypeError, ValueError):
        raise InputError("the expiry must be a number of hours") from None
    if not (1 <= hours <= MAX_HOURS):   # also refuses nan
        raise InputError(f"an invite expires after 1 hour to {MAX_HOURS // 24} days")
    invite_id = new_id()
    token = derived_token(secret, invite_id) if secret else secrets.token_urlsafe(24)
    invite = Invite(id=invite_id, board_id=board.id, token_hash=digest(token), role=role, created_by=by_user_id,
                    expires_at=utcnow() + timedelta(hours=hours))
    s.add(invite)
    await s.commit()
    return NewInvite(invite, token)


async def list_invites(s: AsyncSession, board: Board) -> list[Invite]:
    """Invites still usable (not revoked, not expired), newest first."""
    return list((await s.execute(
        select(Invite).where(Invite.board_id == board.id, Invite.revoked_at.is_(None), Invite.expires_at > utcnow())
        .order_by(Invite.created_at.desc()))).scalars().all())


async def revoke_invite(s: AsyncSession, board: Board, invite_id: str) -> Invite:
    invite = await s.get(Invite, invite_id)
    if invite is None or invite.board_id != board.id:
        raise NotFound(f"no invite {invite_id!r} on this board")
    invite.revoked_at = invite.revoked_at or utcnow()
    await s.commit()
    return invite


async def invite_by_token(s: AsyncSession, token: str) -> Invite:
    invite = (await s.execute(select(Invite).where(Invite.token_hash == digest(token or "")))).scalar_one_or_none()
    if invite is None:
        raise NotFound("no such invite: check that the whole link was copied")
    if invite.revoked_at is not None:
        raise Gone("this invite was revoked by the board's owner; ask them for a new one")
    if invite.expires_at <= utcnow():
        raise Gone("this invite has expired; ask the board's owner for a new one")
    return invite


async def accept_invite(s: AsyncSession, token: str, user: User) -> tuple[Board, str]:
    """Make `user` a member with the invite's role (a member already holding a higher role
    keeps it). Returns the board and the user's role on it."""
    invite = await invite_by_token(s, token)
    board = await s.get(Board, invite.board_id)
    m = (await s.execute(select(Membership).where(Membership.board_id == board.id,
                                                  Membership.user_id == user.id))).scalar_one_or_none()
    if m is None:
        m = Membership(board_id=board.id, user_id=user.id, role=invite.role)
        s.add(m)
    elif RANK[invite.role] > RANK.get(m.role, -1):
        m.role = invite.role
    invite.uses += 1
    await s.commit()
    return board, m.role


# ---- members ----------------------------------------------------------------------------------

@dataclass
class Member:
    user_id: str
    email: str
    name: str
    role: str


async def list_members(s: AsyncSession, board: Board) -> list[Member]:
    rows = (await s.execute(
        select(Membership.user_id, User.email, User.display_name, Membership.role)
        .join(User, User.id == Membership.user_id).where(Membership.board_id == board.id)
        .order_by(Membership.created_at, User.email))).all()
    return [Member(*r) for r in rows]


async def _membership(s: AsyncSession, board: Board, user_id: str) -> Membership:
    m = (await s.execute(select(Membership).where(Membership.board_id == board.id,
                                                  Membership.user_id == user_id))).scalar_one_or_none()
    if m is None:
        raise NotFound(f"no member {user_id!r} on this board")
    return m


async def _owners(s: AsyncSession, board: Board) -> int:
    return (await s.execute(select(func.count()).select_from(Membership).where(
        Membership.board_id == board.id, Membership.role == "owner"))).scalar_one()


async def set_role(s: AsyncSession, board: Board, user_id: str, role: str) -> Membership:
    check_role(role)
    m = await _membership(s, board, user_id)
    if m.role == "owner" and role != "owner" and await _owners(s, board) <= 1:
        raise Conflict("a board keeps at least one owner: make someone else owner first")
    m.role = role
    await s.commit()
    return m


async def remove_member(s: AsyncSession, board: Board, user_id: str) -> None:
    m = await _membership(s, board, user_id)
    if m.role == "owner" and await _owners(s, board) <= 1:
        raise Conflict("a board keeps at least one owner: make someone else owner first")
    await s.delete(m)
    await s.commit()
