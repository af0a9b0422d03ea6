"""Request-scoped helpers shared by the routers: the database session and the voter identity.

A signed-in user (session or API token) votes and comments through their own Voter row; an
anonymous browser through the voter in its signed cookie, created on its first write.

A blind board shows each voter the takes in their own shuffled order, seeded by the voter id,
and stores the order with the vote. So the id must exist from the first page a voter sees, not
only from their first vote: `view_voter` gives an anonymous browser its id (cookie only; the row
comes with its first write) and a signed-in user their Voter row, before the page is drawn."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from fastapi import Depends, Request, Response
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.models import User, Voter
from app.web.security import NEW_VOTER_SCOPE_KEY, VOTER_COOKIE, cookie_voter, set_cookie, voter_signer

__all__ = ["VOTER_COOKIE", "ensure_voter", "session", "view_voter", "voter_from_cookie", "SessionDep"]


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.session() as s:
        yield s


def voter_from_cookie(request: Request) -> str | None:
    """This request's voter: the signed-in user's, else the anonymous cookie's (None if neither)."""
    actor = getattr(request.state, "actor", None)
    if actor is not None and actor.signed_in:
        return actor.voter_id
    return cookie_voter(request)


async def view_voter(request: Request, s: AsyncSession) -> str:
    """The voter whose screen order a page shows; minted now if this browser or user has none,
    so the labels it sees are the ones its vote is recorded (and revealed) with."""
    actor = getattr(request.state, "actor", None)
    if actor is not None and actor.signed_in:
        if actor.voter_id:
            return actor.voter_id
        return await ensure_voter(request, Response(), s)
    voter_id = cookie_voter(request) or request.scope.get(NEW_VOTER_SCOPE_KEY)
    if not voter_id:
        voter_id = new_id()
        request.scope[NEW_VOTER_SCOPE_KEY] = voter_id   # SecurityMiddleware sets the signed cookie
    return voter_id


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
        request.state.actor = dataclasses.replace(actor, voter_id=voter.id)   # later calls see it
        return voter.id
    voter_id = cookie_voter(request)
    if voter_id and await s.get(Voter, voter_id):
        return voter_id
    voter_id = voter_id or request.scope.get(NEW_VOTER_SCOPE_KEY) or new_id()
    # The id came with the first page (view_voter): two first writes at once (a double click,
    # two tabs) both create its row. ON CONFLICT DO NOTHING lets the second find it made.
    insert = pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert
    await s.execute(insert(Voter).values(id=voter_id).on_conflict_do_nothing(index_elements=["id"]))
    await s.commit()
    request.scope[NEW_VOTER_SCOPE_KEY] = voter_id
    set_cookie(request, response, VOTER_COOKIE, voter_signer(request).sign(voter_id).decode(), max_age=5 * 365 * 86400)
    return voter_id


SessionDep = Depends(session)
