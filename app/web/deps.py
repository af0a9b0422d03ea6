"""Request-scoped helpers shared by the routers: the database session and the voter identity.

A signed-in user (session or API token) votes and comments through their own Voter row; an
anonymous browser through the voter in its signed cookie, created on its first write."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.models import User, Voter
from app.web.security import VOTER_COOKIE, cookie_voter, set_cookie, voter_signer

__all__ = ["VOTER_COOKIE", "ensure_voter", "session", "voter_from_cookie", "SessionDep"]


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.session() as s:
        yield s


def voter_from_cookie(request: Request) -> str | None:
    """This request's voter: the signed-in user's, else the anonymous cookie's (None if neither)."""
    actor = getattr(request.state, "actor", None)
    if actor is not None and actor.signed_in:
        return actor.voter_id
    return cookie_voter(request)


async def ensure_voter(request: Request, response: Response, s: AsyncSession) -> str:
    """The voter behind this request, created on first write (row, and for an anonymous
    browser a signed cookie)."""
    actor = getattr(request.state, "actor", None)
    if actor is not None and actor.signed_in:
        if actor.voter_id and await s.get(Voter, actor.voter_id):
            return actor.voter_id
        user = await s.get(User, actor.user_id)
        voter = Voter(display_name=user.display_name)
        s.add(voter)
        await s.flush()
        user.voter_id = voter.id
        await s.commit()
        return voter.id
    voter_id = cookie_voter(request)
    if voter_id and await s.get(Voter, voter_id):
        return voter_id
    voter_id = voter_id or new_id()
    s.add(Voter(id=voter_id))
    await s.commit()
    set_cookie(request, response, VOTER_COOKIE, voter_signer(request).sign(voter_id).decode(), max_age=5 * 365 * 86400)
    return voter_id


SessionDep = Depends(session)
