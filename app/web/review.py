"""Reviewing a board: the "next comparison" flow, accepting a take, re-rolling a model — as
pages (htmx) and as JSON. Every route asks app.access first (the next-comparison flow needs
view access, accepting and re-rolling need the editor role); the logic lives in app.votes and
app.comparisons."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, board_for, comparison_for
from app.comparisons import reroll, set_accepted
from app.errors import NotFound
from app.models import Take
from app.votes import next_comparison
from app.web.deps import session, voter_from_cookie
from app.web.security import guard
from app.web.views import take_json

router = APIRouter()


class RerollIn(BaseModel):
    model: str = Field(description="The model to generate another take of (one already in the comparison).")


async def _take(s: AsyncSession, actor: Actor, comparison_id: str, take_id: str, action: str) -> Take:
    """The take, once the actor's role on its board allows `action` (an outsider gets the same
    404 for the comparison as for one that does not exist)."""
    await comparison_for(s, actor, comparison_id, action)
    take = await s.get(Take, take_id)
    if take is None or take.comparison_id != comparison_id:
        raise NotFound(f"no take {take_id!r} in comparison {comparison_id!r}")
    return take


@router.get("/b/{slug}/next", include_in_schema=False)
async def next_page(slug: str, request: Request, after: str | None = None, s: AsyncSession = Depends(session),
                    actor: Actor = Depends(guard)):
    """Redirect to this voter's next unvoted comparison of the board. htmx follows the redirect
    and swaps the page's <main>, pushing the comparison's own URL."""
    board, _ = await board_for(s, actor, slug, "view")
    cid = await next_comparison(s, board, voter_from_cookie(request), after)
    if cid:
        return RedirectResponse(f"/c/{cid}", status_code=303)
    return request.app.state.templates.TemplateResponse(request, "review_done.html", {"board": board})


@router.get("/api/boards/{slug}/next", tags=["api"], summary="The next comparison you have not voted on")
async def api_next(slug: str, request: Request, after: str | None = None, s: AsyncSession = Depends(session),
                   actor: Actor = Depends(guard)) -> dict:
    board, _ = await board_for(s, actor, slug, "view")
    return {"comparison": await next_comparison(s, board, voter_from_cookie(request), after)}


@router.post("/api/comparisons/{comparison_id}/reroll", tags=["api"], status_code=202,
             summary="Generate another take of one model (take 2, 3 …; editors)")
async def api_reroll(comparison_id: str, body: RerollIn, request: Request, s: AsyncSession = Depends(session),
                     actor: Actor = Depends(guard)) -> dict:
    state = request.app.state
    c, _ = await comparison_for(s, actor, comparison_id, "edit")
    take = await reroll(s, c, body.model, catalog=state.catalog, providers=state.providers)
    await state.queue.enqueue([take.id])
    return take_json(take, state.catalog)


@router.post("/api/comparisons/{comparison_id}/takes/{take_id}/accept", tags=["api"],
             summary='Mark a take "good enough to use" (editors)')
async def api_accept(comparison_id: str, take_id: str, request: Request, s: AsyncSession = Depends(session),
                     actor: Actor = Depends(guard)) -> dict:
    take = await set_accepted(s, await _take(s, actor, comparison_id, take_id, "edit"), True)
    return take_json(take, request.app.state.catalog)


@router.post("/api/comparisons/{comparison_id}/takes/{take_id}/unaccept", tags=["api"],
             summary="Take an acceptance back (editors)")
async def api_unaccept(comparison_id: str, take_id: str, request: Request, s: AsyncSession = Depends(session),
                       actor: Actor = Depends(guard)) -> dict:
    take = await set_accepted(s, await _take(s, actor, comparison_id, take_id, "edit"), False)
    return take_json(take, request.app.state.catalog)


@router.post("/c/{comparison_id}/takes/{take_id}/accept", include_in_schema=False, response_class=HTMLResponse)
async def accept_page(comparison_id: str, take_id: str, s: AsyncSession = Depends(session),
                      actor: Actor = Depends(guard)):
    await set_accepted(s, await _take(s, actor, comparison_id, take_id, "edit"), True)
    return RedirectResponse(f"/c/{comparison_id}", status_code=303)


@router.post("/c/{comparison_id}/takes/{take_id}/unaccept", include_in_schema=False, response_class=HTMLResponse)
async def unaccept_page(comparison_id: str, take_id: str, s: AsyncSession = Depends(session),
                        actor: Actor = Depends(guard)):
    await set_accepted(s, await _take(s, actor, comparison_id, take_id, "edit"), False)
    return RedirectResponse(f"/c/{comparison_id}", status_code=303)
