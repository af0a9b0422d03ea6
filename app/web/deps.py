"""Request-scoped helpers shared by the routers: the database session and the voter cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, Signer
from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.models import Voter

VOTER_COOKIE = "takes_voter"


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.session() as s:
        yield s


def _signer(request: Request) -> Signer:
    return Signer(request.app.state.settings.resolved_secret(), salt="takes.voter")


def voter_from_cookie(request: Request) -> str | None:
    raw = request.cookies.get(VOTER_COOKIE)
    if not raw:
        return None
    try:
        return _signer(request).unsign(raw).decode()
    except BadSignature:
        return None


async def ensure_voter(request: Request, response: Response, s: AsyncSession) -> str:
    """The anonymous voter behind this browser, created (row + signed cookie) on first write."""
    voter_id = voter_from_cookie(request)
    if voter_id and await s.get(Voter, voter_id):
        return voter_id
    voter_id = voter_id or new_id()
    s.add(Voter(id=voter_id))
    await s.commit()
    response.set_cookie(VOTER_COOKIE, _signer(request).sign(voter_id).decode(), max_age=5 * 365 * 86400,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return voter_id


SessionDep = Depends(session)
