"""Votes and the review flow: casting a ballot (the page's htmx form and the API, one
function), and "the next comparison I have not voted on" of a board. The logic lives in
app.votes; access in app.access (the voter role to vote, view to review)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.access import Actor, board_for, comparison_for
from app.errors import TakesError, TooManyRequests
from app.models import Comparison, Vote
from app.votes import BallotInput, next_comparison, record_ballot
from app.web.comparisons import viewer_view
from app.web.forms import ballot_input
from app.web.identity import ActorDep, ensure_voter, voter_of
from app.web.schemas import BallotOut, NextOut, VoteIn, errors
from app.web.services import Services, ServicesDep, SessionDep
from app.web.views import comparison_view

router = APIRouter()


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def vote_limit(request: Request, svc: Services, voter_id: str) -> None:
    """Votes per minute per voter, and (five times as many) per address: a reviewer never gets
    near either, a script does."""
    wait = svc.limits.votes.hit(voter_id) or svc.limits.votes_ip.hit(client_ip(request))
    if wait:
        raise TooManyRequests(f"too many votes in a minute; try again in {wait} s", wait)


async def ballot_box(request: Request, svc: Services, s: AsyncSession, actor: Actor,
                     comparison_id: str) -> tuple[Comparison, str]:
    """The comparison and the voter a ballot is cast as (created on their first vote), once
    the actor may vote there and is within the rate limit. Both vote routes start here, then
    hand the ballot to app.votes.record_ballot."""
    c, _ = await comparison_for(s, actor, comparison_id, "vote")
    voter = await ensure_voter(request, svc, s, commit=False)   # committed with the write
    vote_limit(request, svc, voter)
    return c, voter


def ballot_json(rows: list[Vote]) -> dict:
    return {"ballot_id": rows[0].ballot_id, "pairs": [
        {"vote_id": v.id, "take_a": v.take_a_id, "take_b": v.take_b_id, "model_a": v.model_a, "model_b": v.model_b,
         "winner": v.winner, "position_a": v.position_a, "position_b": v.position_b} for v in rows]}


@router.post("/c/{comparison_id}/vote", response_class=HTMLResponse, include_in_schema=False)
async def vote_from_page(comparison_id: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep):
    """The vote fragment: after a vote, the names (HX-Trigger takes-reveal tells the players);
    on bad input, the form again with the message."""
    form = await request.form()
    c, voter = await ballot_box(request, svc, s, actor, comparison_id)
    try:
        rows = await record_ballot(s, c, voter, ballot_input(form))
    except TakesError as exc:
        await s.rollback()
        c, view = await viewer_view(request, svc, s, actor, comparison_id)
        return svc.render(request, "partials/vote.html", {"c": c, "view": view, "error": exc.message},
                          status_code=exc.status_code)
    c, role = await comparison_for(s, actor, comparison_id, "vote")
    view = comparison_view(c, svc.catalog, voter, True)
    view.role = role
    names = {t.take.id: t.name for t in view.tiles}
    return svc.render(request, "partials/vote.html", {"c": c, "view": view, "recorded": rows},
                      headers={"HX-Trigger": json.dumps({"takes-reveal": {"names": names}})})


@router.post("/api/comparisons/{comparison_id}/votes", status_code=201, tags=["votes"], summary="Record a vote",
             response_model=BallotOut, responses=errors(403, 404, 409, 429))
async def api_vote(comparison_id: str, body: VoteIn, request: Request, svc: ServicesDep, s: SessionDep,
                   actor: ActorDep) -> dict:
    c, voter = await ballot_box(request, svc, s, actor, comparison_id)
    rows = await record_ballot(s, c, voter, BallotInput(**body.model_dump()))
    return ballot_json(rows)


# ---- the review flow --------------------------------------------------------------------------

@router.get("/b/{slug}/next", include_in_schema=False)
async def next_page(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                    after: str | None = None):
    """Redirect to this voter's next unvoted comparison of the board. htmx follows the redirect
    and swaps the page's <main>, pushing the comparison's own URL."""
    board, _ = await board_for(s, actor, slug, "view")
    cid = await next_comparison(s, board, voter_of(request, svc), after)
    if cid:
        return RedirectResponse(f"/c/{cid}", status_code=303)
    return svc.render(request, "review_done.html", {"board": board})


@router.get("/api/boards/{slug}/next", tags=["votes"], summary="The next comparison you have not voted on",
            response_model=NextOut, responses=errors(404))
async def api_next(slug: str, request: Request, svc: ServicesDep, s: SessionDep, actor: ActorDep,
                   after: str | None = None) -> dict:
    board, _ = await board_for(s, actor, slug, "view")
    return {"comparison": await next_comparison(s, board, voter_of(request, svc), after)}
