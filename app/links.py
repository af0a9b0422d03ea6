"""Read-only links to a single comparison: /v/<token>. Like a board's share link, the token is
kept (signed) in the browser that opened it (app/web/identity.py's link list), and whoever
holds it — with no role on the board — is a *viewer* of that one comparison, its takes, media
and comments (app.access.decide), never of the rest of the board, and cannot vote or comment.
An editor makes the link, replaces it (the old one stops working) or revokes it.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.models import Comparison


async def make_link(s: AsyncSession, c: Comparison) -> str:
    """A new link token for the comparison (any older one stops working)."""
    c.link_token = secrets.token_urlsafe(18)
    await s.commit()
    return c.link_token


async def revoke_link(s: AsyncSession, c: Comparison) -> None:
    c.link_token = None
    await s.commit()


async def comparison_by_link(s: AsyncSession, token: str) -> Comparison:
    c = (await s.execute(select(Comparison).where(Comparison.link_token == token))).scalar_one_or_none() \
        if token else None
    if c is None:
        raise NotFound("this link does not work (any more): ask whoever shared it for the current one")
    return c
